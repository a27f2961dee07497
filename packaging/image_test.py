#!/usr/bin/env python3
"""Checks gameday's OCI image (build/gameday-image.tar) and runs it.

Reads the archive back as an OCI layout (index.json -> manifest -> config and layer) and checks:
the entrypoint is /bin/gameday, it runs as a non-root user, there is no shell, and every shared
library `ldd` names for the binary is in the layer. Then it unpacks the layer and runs the image's
own root file system under `chroot --userspec` as that user, with the image's environment:
`gameday --version`, `gameday validate PLAN` and `gameday rbac PLAN` must work there, which
proves the image holds what gameday needs. Prints the image's size. Exit 77 (skipped) when not
root (chroot needs it); 1 with the reason on failure.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile


def fail(msg):
    print(f"image_test: FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def blob(archive, digest):
    algo, hexdigest = digest.split(":", 1)
    if algo != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", hexdigest):
        fail(f"bad digest {digest!r}")
    member = archive.extractfile(f"blobs/sha256/{hexdigest}")
    if member is None:
        fail(f"blob {digest} missing")
    return member.read()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", required=True)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--plan", required=True)
    opts = parser.parse_args()

    size = os.path.getsize(opts.image)
    with tarfile.open(opts.image) as archive:
        index = json.loads(archive.extractfile("index.json").read())
        manifests = index.get("manifests", [])
        if len(manifests) != 1:
            fail(f"index.json names {len(manifests)} manifests, expected 1")
        name = manifests[0].get("annotations", {}).get("io.containerd.image.name", "")
        manifest = json.loads(blob(archive, manifests[0]["digest"]))
        config = json.loads(blob(archive, manifest["config"]["digest"]))["config"]
        layers = manifest["layers"]
        if len(layers) != 1:
            fail(f"{len(layers)} layers, expected 1")
        layer = blob(archive, layers[0]["digest"])

    if config.get("Entrypoint") != ["/bin/gameday"]:
        fail(f"entrypoint {config.get('Entrypoint')!r}, expected ['/bin/gameday']")
    user = config.get("User", "")
    if not re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user):
        fail(f"the image runs as {user!r}, expected a non-root UID:GID")

    with tempfile.TemporaryDirectory(prefix="gameday-image-test-") as tmp:
        layer_file = os.path.join(tmp, "layer.tar")
        with open(layer_file, "wb") as fh:
            fh.write(layer)
        rootfs = os.path.join(tmp, "rootfs")
        os.makedirs(rootfs)
        with tarfile.open(layer_file) as lt:
            names = set(m.name for m in lt.getmembers())
            for m in lt.getmembers():
                if m.name.startswith("/") or ".." in m.name.split("/"):
                    fail(f"layer entry {m.name!r} escapes the root")
            lt.extractall(rootfs, numeric_owner=True)
        for shell in ("bin/sh", "bin/bash", "usr/bin/sh", "bin/busybox"):
            if shell in names:
                fail(f"the image holds a shell: /{shell}")
        ldd = subprocess.run(["ldd", opts.binary], capture_output=True, text=True, check=True)
        for path in re.findall(r"(/\S+) \(0x[0-9a-f]+\)", ldd.stdout):
            if path.lstrip("/") not in names:
                fail(f"the image lacks {path}, which ldd names for {opts.binary}")
        files = sum(1 for m in names if not m.endswith("/"))
        print(f"image {name}: {size / 1e6:.1f} MB archive, layer {len(layer) / 1e6:.1f} MB, "
              f"{len(names)} entries, user {user}, entrypoint /bin/gameday")

        if os.geteuid() != 0:
            print("image_test: not root, so the image is not run (chroot needs root)")
            return 77
        shutil.copyfile(opts.plan, os.path.join(rootfs, "tmp", "plan.yaml"))
        os.chmod(os.path.join(rootfs, "tmp", "plan.yaml"), 0o644)
        env = dict(kv.split("=", 1) for kv in config.get("Env", []))
        chroot = shutil.which("chroot") or shutil.which("chroot", path="/usr/sbin:/sbin")
        if chroot is None:
            fail("chroot (coreutils) is not installed")
        for args, expect in ((["--version"], r"\d+\.\d+\.\d+"),
                             (["validate", "/tmp/plan.yaml"], r"ok \(1 experiment"),
                             (["rbac", "/tmp/plan.yaml"], r"kind: ClusterRole")):
            res = subprocess.run([chroot, f"--userspec={user}", rootfs, "/bin/gameday", *args],
                                 capture_output=True, text=True, env=env, timeout=60, check=False)
            if res.returncode != 0 or not re.search(expect, res.stdout):
                fail(f"gameday {' '.join(args)} in the image exited {res.returncode}: "
                     f"{(res.stdout + res.stderr).strip()[:600]}")
            print(f"in the image, as {user}: gameday {' '.join(args)}: ok")
        state = os.path.join(rootfs, "var", "lib", "gameday")
        st = os.stat(state)
        if f"{st.st_uid}:{st.st_gid}" != user:
            fail(f"/var/lib/gameday belongs to {st.st_uid}:{st.st_gid}, not {user}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
