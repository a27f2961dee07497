#!/usr/bin/env python3
"""Writes OCI image archives: no registry, no Docker.

gameday's own image (the CMake target gameday-image) and the images of the real test nodes (the
demo service, the pod sandbox's pause). The archive is an OCI image layout in a tar (oci-layout,
index.json, blobs/sha256/...), one uncompressed layer, importable with
`ctr -n k8s.io images import FILE` and pushable with `skopeo copy oci-archive:FILE docker://...`.
The image name goes into the index annotations (io.containerd.image.name), so an import tags it.

  oci-image.py dir    --name NAME --out FILE --rootfs DIR -- ENTRYPOINT [ARG...]
      the files of DIR as the image's root file system
  oci-image.py pause  --name NAME --out FILE [--source pause.c]
      the pod sandbox image: pause.c built with `gcc -static`, as /pause
  oci-image.py binary --name NAME --out FILE --binary PATH [--strip] [--user UID:GID]
                      [--writable DIR]... [--env K=V]... -- [ARG...]
      PATH as /bin/BASENAME plus every shared library `ldd PATH` names (and the dynamic loader),
      at the paths the loader looks for them, and /tmp; nothing else (no shell). The entrypoint
      is /bin/BASENAME ARG...; --strip drops its debug info, --user runs it as that user (the
      config's User), and each --writable DIR is created owned by that user (mode 0750).

The layer is reproducible: sorted entries, mtime 0, owner root (but --writable folders). Exits 0
and prints the image name on success; 1 with a message on stderr otherwise.
"""

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PAUSE_SOURCE = os.path.join(os.path.dirname(HERE), "tests", "harness", "node", "pause.c")


class ImageError(Exception):
    pass


def _tarinfo(name, kind, size=0, mode=0o755, linkname="", owner=(0, 0)):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mode = mode
    info.mtime = 0
    info.uid, info.gid = owner
    info.uname = info.gname = ""
    info.linkname = linkname
    return info


def layer_from_dir(rootfs, owned=(), owner=(0, 0)):
    """Returns the bytes of an uncompressed tar of rootfs (reproducible); the folders `owned`
    (relative paths) belong to `owner`, everything else to root."""
    entries = []
    for top, dirs, files in os.walk(rootfs):
        dirs.sort()
        rel_top = os.path.relpath(top, rootfs)
        for d in dirs:
            entries.append(os.path.normpath(os.path.join(rel_top, d)))
        for f in sorted(files):
            entries.append(os.path.normpath(os.path.join(rel_top, f)))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in sorted(entries):
            path = os.path.join(rootfs, rel)
            st = os.lstat(path)
            mode = st.st_mode & 0o7777
            if os.path.islink(path):
                tar.addfile(_tarinfo(rel, tarfile.SYMTYPE, mode=0o777, linkname=os.readlink(path)))
            elif os.path.isdir(path):
                tar.addfile(_tarinfo(rel, tarfile.DIRTYPE, mode=mode,
                                     owner=owner if rel in owned else (0, 0)))
            elif os.path.isfile(path):
                with open(path, "rb") as fh:
                    tar.addfile(_tarinfo(rel, tarfile.REGTYPE, size=st.st_size, mode=mode), fh)
            else:
                raise ImageError(f"{path}: neither file, folder nor symlink")
    return buf.getvalue()


def write_archive(out, name, layer, entrypoint, env, user=""):
    """Writes the OCI layout tar `out` holding one image `name` with the given layer."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9._-]+)?", name):
        raise ImageError(f"bad image name {name!r}")
    blobs = {}

    def blob(data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return digest

    layer_digest = blob(layer)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": dict({"Entrypoint": entrypoint, "Env": env, "WorkingDir": "/"},
                       **({"User": user} if user else {})),
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "history": [{"created_by": "gameday packaging/oci-image.py"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_digest = blob(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config_bytes)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": len(layer)}],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    manifest_digest = blob(manifest_bytes)
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else "latest"
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": len(manifest_bytes),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": tag},
        }],
    }
    files = [("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
             ("index.json", json.dumps(index, sort_keys=True).encode())]
    files += [(f"blobs/sha256/{d.split(':', 1)[1]}", data) for d, data in sorted(blobs.items())]
    tmp = out + ".tmp"
    with tarfile.open(tmp, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            tar.addfile(_tarinfo(d, tarfile.DIRTYPE))
        for path, data in files:
            tar.addfile(_tarinfo(path, tarfile.REGTYPE, size=len(data), mode=0o644), io.BytesIO(data))
    os.replace(tmp, out)


def shared_libraries(binary):
    """The absolute paths of the loader and libraries `ldd binary` names (empty when static)."""
    try:
        res = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ImageError(f"ldd {binary}: {e}") from e
    text = res.stdout + res.stderr
    if "not a dynamic executable" in text or "statically linked" in text:
        return []
    if res.returncode != 0:
        raise ImageError(f"ldd {binary} failed: {text.strip()[:400]}")
    libs = []
    for line in res.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            raise ImageError(f"ldd {binary}: {line}")
        m = re.fullmatch(r"(?:\S+ => )?(/\S+) \(0x[0-9a-f]+\)", line)
        if m is None:
            continue  # linux-vdso.so.1 and the like: provided by the kernel
        path = m.group(1)
        if ".." in path.split("/") or not os.path.isfile(path):
            raise ImageError(f"ldd {binary} named {path!r}, which is no file")
        libs.append(path)
    return libs


def copy_into(rootfs, src, dest):
    target = os.path.join(rootfs, dest.lstrip("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    shutil.copyfile(src, target)  # follows symlinks: the loader finds the file under its name
    os.chmod(target, 0o755)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    for kind in ("dir", "pause", "binary"):
        p = sub.add_parser(kind)
        p.add_argument("--name", required=True)
        p.add_argument("--out", required=True)
        if kind == "dir":
            p.add_argument("--rootfs", required=True)
        if kind == "pause":
            p.add_argument("--source", default=PAUSE_SOURCE)
        if kind == "binary":
            p.add_argument("--binary", required=True)
            p.add_argument("--user", default="", help="UID:GID to run as (numeric)")
            p.add_argument("--strip", action="store_true", help="strip the binary's debug info")
            p.add_argument("--writable", action="append", default=[],
                           help="a folder created owned by --user")
            p.add_argument("--env", action="append", default=[], help="K=V for the environment")
        p.add_argument("args", nargs="*")
    opts = parser.parse_args()
    env = ["PATH=/bin:/usr/bin"]
    user, owner, owned = "", (0, 0), set()
    try:
        with tempfile.TemporaryDirectory(prefix="gameday-oci-") as tmp:
            rootfs = os.path.join(tmp, "rootfs")
            os.makedirs(rootfs)
            if opts.kind == "dir":
                if not opts.args:
                    raise ImageError("dir: the entrypoint is missing (after --)")
                rootfs, entrypoint = opts.rootfs, opts.args
            elif opts.kind == "pause":
                res = subprocess.run(["gcc", "-static", "-Os", "-s", "-o", os.path.join(rootfs, "pause"),
                                      opts.source], capture_output=True, text=True, check=False)
                if res.returncode != 0:
                    raise ImageError(f"gcc -static {opts.source} failed: {res.stderr.strip()[:800]}")
                entrypoint = ["/pause"]
            else:
                binary = os.path.abspath(opts.binary)
                if not os.path.isfile(binary):
                    raise ImageError(f"{binary} is no file")
                dest = "/bin/" + os.path.basename(binary)
                copy_into(rootfs, binary, dest)
                if opts.strip:
                    res = subprocess.run(["strip", "--strip-debug", os.path.join(rootfs, dest[1:])],
                                         capture_output=True, text=True, check=False)
                    if res.returncode != 0:
                        raise ImageError(f"strip {binary} failed: {res.stderr.strip()[:400]}")
                libs = shared_libraries(binary)
                for lib in libs:
                    copy_into(rootfs, lib, lib)
                lib_dirs = sorted({os.path.dirname(lib) for lib in libs})
                if lib_dirs:
                    env.append("LD_LIBRARY_PATH=" + ":".join(lib_dirs))
                os.makedirs(os.path.join(rootfs, "tmp"), mode=0o1777, exist_ok=True)
                os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
                if opts.user:
                    if not re.fullmatch(r"[0-9]{1,9}:[0-9]{1,9}", opts.user):
                        raise ImageError(f"--user must be UID:GID (numbers), got {opts.user!r}")
                    user = opts.user
                    owner = tuple(int(x) for x in opts.user.split(":"))
                for folder in opts.writable:
                    rel = os.path.normpath(folder.strip("/"))
                    if rel in (".", "") or rel.startswith(".."):
                        raise ImageError(f"--writable {folder!r} is no folder inside the image")
                    os.makedirs(os.path.join(rootfs, rel), exist_ok=True)
                    os.chmod(os.path.join(rootfs, rel), 0o750)
                    owned.add(rel)
                for kv in opts.env:
                    if "=" not in kv:
                        raise ImageError(f"--env {kv!r} is not K=V")
                    env.append(kv)
                entrypoint = [dest] + opts.args
            write_archive(opts.out, opts.name, layer_from_dir(rootfs, owned, owner), entrypoint,
                          env, user)
    except (ImageError, OSError) as e:
        print(f"oci-image: {e}", file=sys.stderr)
        return 1
    print(opts.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
