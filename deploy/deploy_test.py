#!/usr/bin/env python3
"""Checks gameday's Kubernetes deployment: the Helm chart (deploy/helm/gameday) and the plain
manifests (deploy/manifests/*.yaml), against a real API server.

1. `helm lint --strict` of the chart, and `helm template` with several value sets (helm is built
   from the Go module proxy by tests/harness/build-helm.sh, or named by $GAMEDAY_HELM); a chart
   without plans must refuse to render.
2. A real control plane (tests/harness/k8s-plane.sh up), always taken down again.
3. Every rendered document and every plain manifest is POSTed to its collection with
   ?dryRun=All (server-side dry run: validation, defaulting and admission, nothing stored) and
   must be accepted. The objects the API server returns are checked: a game day never retried
   (backoffLimit 0, restartPolicy Never), never two at once (concurrencyPolicy Forbid), run as
   non-root with the verdict as termination message, every `gameday run` flag one gameday
   knows, and the pod meeting the "restricted" Pod Security Standard (the API server's warnings)
   except for the opt-out init container that hands the report volume to gameday's user.
4. The plans the manifests and the chart carry pass `gameday validate`.

With --real-node IMAGE_TAR instead (test gameday_deploy_job): a test plane with a real node
(kubelet, containerd, runc; tests/harness/real-node.sh) that imports gameday's image, and the
chart's one-off Job installed for real twice, with a plan that passes and one that fails: the
pod's termination message must be gameday's verdict ("passed: plan ..." / "failed: plan ...,
why: ..."), the Job Complete or Failed, and a failed game day never given a second pod.

Standard library only. Exit 77 (skipped) only when helm cannot be built, or for --real-node
without root or a real node's tools (failed instead when $CI is set); 1 with the reason on any
failure.
"""

import argparse
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

FAILURES = []


def fail(msg):
    print(f"deploy_test: FAILED: {msg}", file=sys.stderr)
    FAILURES.append(msg)


def check(cond, msg):
    if not cond:
        fail(msg)
    return cond


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)


def documents(text):
    """The YAML documents of a multi-document stream that hold an object (a `kind:`)."""
    docs = re.split(r"^---[ \t]*$", text, flags=re.M)
    return [d for d in docs if re.search(r"^kind:", d, flags=re.M)]


def top_field(doc, name):
    m = re.search(rf"^{name}:[ \t]*\"?([^\"\s#]+)\"?", doc, flags=re.M)
    return m.group(1) if m else None


def metadata_field(doc, name):
    """metadata.NAME of a document (two-space indented under a top-level `metadata:`)."""
    m = re.search(r"^metadata:[ \t]*\n((?:[ \t]+.*\n|[ \t]*#.*\n|\n)*)", doc + "\n", flags=re.M)
    if not m:
        return None
    f = re.search(rf"^  {name}:[ \t]*\"?([^\"\s#]+)\"?", m.group(1), flags=re.M)
    return f.group(1) if f else None


class Api:
    """The admin's view of a test plane's API server: its CA, a bearer token, loopback only."""

    def __init__(self, plane):
        env = dict(line.split("=", 1) for line in open(os.path.join(plane, "plane.env"))
                   .read().split() if "=" in line)
        self.base = f"https://127.0.0.1:{env['API_PORT']}"
        self.token = open(os.path.join(plane, "pki", "admin.token")).read().strip()
        self.ctx = ssl.create_default_context(cafile=os.path.join(plane, "pki", "ca.crt"))
        self.resources = {}

    def call(self, method, path, body=None, content_type="application/json"):
        req = urllib.request.Request(self.base + path, method=method, data=body)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if body is not None:
            req.add_header("Content-Type", content_type)
        # The plane listens on 127.0.0.1 only; no proxy may stand in between.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=self.ctx))
        try:
            with opener.open(req, timeout=30) as resp:
                return resp.status, resp.read().decode(), resp.headers.get_all("Warning") or []
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), e.headers.get_all("Warning") or []

    def collection(self, api_version, kind, namespace):
        """The collection path of KIND in API_VERSION, from the API server's discovery."""
        prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        if prefix not in self.resources:
            status, body, _ = self.call("GET", prefix)
            if status != 200:
                raise RuntimeError(f"discovery of {prefix}: HTTP {status}: {body[:300]}")
            self.resources[prefix] = json.loads(body)["resources"]
        for r in self.resources[prefix]:
            if r["kind"] == kind and "/" not in r["name"]:
                if r["namespaced"]:
                    return f"{prefix}/namespaces/{namespace}/{r['name']}"
                return f"{prefix}/{r['name']}"
        raise RuntimeError(f"the API server serves no {kind} in {api_version}")

    def dry_run(self, doc, default_namespace, where):
        """POSTs one YAML document with ?dryRun=All; returns (object, warnings) or None."""
        api_version, kind = top_field(doc, "apiVersion"), top_field(doc, "kind")
        name = metadata_field(doc, "name") or metadata_field(doc, "generateName")
        namespace = metadata_field(doc, "namespace") or default_namespace
        label = f"{where}: {kind} {namespace}/{name}"
        if not check(api_version and kind and name, f"{label}: no apiVersion, kind or name"):
            return None
        path = self.collection(api_version, kind, namespace) + "?dryRun=All&fieldValidation=Strict"
        status, body, warnings = self.call("POST", path, doc.encode(), "application/yaml")
        if not check(status in (200, 201), f"{label}: dry run refused, HTTP {status}: "
                     f"{body[:800]}"):
            return None
        obj = json.loads(body)
        check(obj.get("kind") == kind, f"{label}: the API server answered a {obj.get('kind')}")
        print(f"accepted (dry run): {label}" + (f" [{len(warnings)} warning(s)]" if warnings
                                                else ""))
        return obj, warnings

    def create(self, path, obj):
        status, body, _ = self.call("POST", path, json.dumps(obj).encode())
        if status not in (200, 201, 409):
            raise RuntimeError(f"POST {path}: HTTP {status}: {body[:300]}")


def pod_spec(obj):
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec, spec["template"]["spec"]


def check_run_workload(obj, warnings, label, run_flags, expect_init, expect_readonly, journal):
    """What every game-day Job and CronJob must say, read from the API server's answer."""
    job, pod = pod_spec(obj)
    check(job.get("backoffLimit") == 0, f"{label}: backoffLimit {job.get('backoffLimit')}, not 0")
    check(pod.get("restartPolicy") == "Never", f"{label}: restartPolicy {pod.get('restartPolicy')}")
    if obj["kind"] == "CronJob":
        check(obj["spec"].get("concurrencyPolicy") == "Forbid",
              f"{label}: concurrencyPolicy {obj['spec'].get('concurrencyPolicy')}")
    check(pod.get("securityContext", {}).get("runAsNonRoot") is True,
          f"{label}: the pod is not runAsNonRoot")
    check(pod.get("serviceAccountName"), f"{label}: no ServiceAccount")
    (c,) = [c for c in pod["containers"] if c["name"] == "gameday"]
    check(c.get("terminationMessagePolicy") == "FallbackToLogsOnError",
          f"{label}: terminationMessagePolicy {c.get('terminationMessagePolicy')}")
    check(c.get("terminationMessagePath") == "/dev/termination-log",
          f"{label}: terminationMessagePath {c.get('terminationMessagePath')}")
    check(c["securityContext"].get("readOnlyRootFilesystem") is expect_readonly,
          f"{label}: readOnlyRootFilesystem {c['securityContext'].get('readOnlyRootFilesystem')}")
    check("command" not in c, f"{label}: a command overrides the image's entrypoint (no shell)")
    args = c.get("args", [])
    check(args[:1] == ["run"], f"{label}: args {args} do not start with run")
    for flag, value in (("--termination-log", "/dev/termination-log"),
                        ("--report-dir", "/reports/$(RUN)"),
                        ("--history-db", "/reports/history.db")):
        check(flag in args and args[args.index(flag) + 1] == value,
              f"{label}: args lack {flag} {value}: {args}")
    check(any(a.startswith("/plans/") for a in args), f"{label}: no /plans/ file in {args}")
    for a in args:
        if a.startswith("--"):
            check(a.split("=")[0] in run_flags, f"{label}: `gameday run` has no flag {a}")
    env = {e["name"]: e for e in c.get("env", [])}
    check(env.get("RUN", {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
          == "metadata.name", f"{label}: $(RUN) is not the pod's name")
    # The cluster journal the reaper reads: every fault also in a ConfigMap of `journal`.
    if journal is None:
        check("--cluster-journal" not in args, f"{label}: a cluster journal: {args}")
    elif check("--cluster-journal" in args, f"{label}: no --cluster-journal in {args}"):
        got = args[args.index("--cluster-journal") + 1]
        if got == "$(NAMESPACE)":
            got = env.get("NAMESPACE", {}).get("valueFrom", {}).get("fieldRef", {}).get(
                "fieldPath")
            check(journal == "metadata.namespace" and got == journal,
                  f"{label}: $(NAMESPACE) is {got}")
        else:
            check(got == journal, f"{label}: --cluster-journal {got}, expected {journal}")
    # The run lock, in the same namespace as the journal (chart default; $(NAMESPACE) in the
    # plain manifests).
    if journal is None:
        check("--lock-namespace" not in args, f"{label}: a run lock: {args}")
    elif check("--lock-namespace" in args, f"{label}: no --lock-namespace in {args}"):
        got = args[args.index("--lock-namespace") + 1]
        want = "$(NAMESPACE)" if journal == "metadata.namespace" else journal
        check(got == want, f"{label}: --lock-namespace {got}, expected {want}")
    if "--pushgateway" in args:
        check("PUSHGATEWAY" in env, f"{label}: $(PUSHGATEWAY) is not set")
    init = [i["name"] for i in pod.get("initContainers", [])]
    check(init == (["reports-owner"] if expect_init else []), f"{label}: init containers {init}")
    # PodSecurity admission warns on workloads whose pods it would refuse in a "restricted"
    # namespace: only the opt-out init container (root, CHOWN/FOWNER) may be named.
    ps = [w for w in warnings if "PodSecurity" in w or "would violate" in w]
    if expect_init:
        check(ps and all("reports-owner" in w for w in ps),
              f"{label}: expected restricted-policy warnings about reports-owner only: {ps}")
    else:
        check(not ps, f"{label}: the pod does not meet the restricted policy: {ps}")

TRIVIAL_PLAN = """\
# A game day that breaks nothing: the API server must answer TCP for a second.
name: in-cluster-smoke
target:
  kind: local
warmup: 500ms
cooldown: 500ms
verify:
  - name: api-server
    kind: tcp
    interval: 100ms
    spec:
      host: {host}
      port: {port}
      timeout: 500ms
method:
  - wait: 1s
"""


def image_name(archive):
    import tarfile
    with tarfile.open(archive) as t:
        index = json.loads(t.extractfile("index.json").read())
    return index["manifests"][0]["annotations"]["io.containerd.image.name"]

def one_job(api, helm, henv, chart, tmp, gameday, release, repo, tag, host, port, verdict,
            values):
    """Installs the chart's one-off Job as RELEASE (rendered by helm, created for real) with a
    plan probing HOST:PORT and checks its pod's termination message says VERDICT."""
    plan = os.path.join(tmp, f"{release}.yaml")
    open(plan, "w").write(TRIVIAL_PLAN.format(host=host, port=port))
    v = run([gameday, "validate", plan])
    if not check(v.returncode == 0, f"the smoke plan: {v.stdout}{v.stderr}"):
        return
    # The release's rights, as `gameday rbac` prints them: the plan's (none: it probes TCP),
    # the cluster journal's ConfigMaps and the run lock's Leases in the namespace.
    rbac = os.path.join(tmp, f"{release}-rbac.yaml")
    r = run([gameday, "rbac", plan, "--service-account", f"gameday/{release}-gameday",
             "--name", f"{release}-gameday", "--cluster-journal", "gameday",
             "--lock-namespace", "gameday"])
    if not check(r.returncode == 0, f"gameday rbac: {r.stderr}"):
        return
    open(rbac, "w").write(r.stdout)
    # No scheduled runs: only the one-off Job, on the real node.
    r = run([helm, "template", release, chart, "-n", "gameday", *values,
             "--set-file", f"plans.smoke\\.yaml={plan}", "--set", "oneOff.enabled=true",
             "--set-file", f"rbac.manifest={rbac}",
             "--set", "suspend=true", "--set", f"image.repository={repo}",
             "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never",
             "--set", "nodeSelector.type=real", "--set", "terminationGracePeriodSeconds=5"],
            env=henv)
    if not check(r.returncode == 0, f"helm template: {r.stderr}"):
        return
    job = None
    for d in documents(r.stdout):
        kind, name = top_field(d, "kind"), metadata_field(d, "name")
        path = api.collection(top_field(d, "apiVersion"), kind, "gameday")
        status, body, _ = api.call("POST", path, d.encode(), "application/yaml")
        if not check(status in (200, 201), f"create {kind} {name}: HTTP {status}: {body[:500]}"):
            return
        if kind == "Job":
            job = name
    if not check(job, "the chart rendered no Job"):
        return
    t_job = time.monotonic()
    pods, term, phase = [], None, ""
    while time.monotonic() - t_job < 180:
        status, body, _ = api.call(
            "GET", f"/api/v1/namespaces/gameday/pods?labelSelector=job-name%3D{job}")
        pods = json.loads(body).get("items", []) if status == 200 else []
        if pods:
            phase = pods[0].get("status", {}).get("phase", "")
            for cs in pods[0].get("status", {}).get("containerStatuses", []):
                term = cs.get("state", {}).get("terminated") or term
            if phase in ("Succeeded", "Failed") and term:
                break
        time.sleep(0.5)
    if not check(term is not None, f"{job}: the pod did not finish (phase {phase!r}): "
                 f"{json.dumps(pods)[:2000]}"):
        return
    pod = pods[0]["metadata"]["name"]
    message = term.get("message", "")
    print(f"Job {job}: pod {phase} after {time.monotonic() - t_job:.1f} s, exit "
          f"{term.get('exitCode')}; termination message:\n{message}")
    status, log, _ = api.call("GET", f"/api/v1/namespaces/gameday/pods/{pod}/log")
    want_exit, want_phase = (0, "Succeeded") if verdict == "passed" else (1, "Failed")
    check(phase == want_phase and term.get("exitCode") == want_exit,
          f"{job}: {phase}, exit {term.get('exitCode')}, expected {want_phase}, exit "
          f"{want_exit}; log:\n{log}")
    check(message.startswith(f"{verdict}: plan in-cluster-smoke, run "),
          f"{job}: termination message {message!r}")
    check(re.search(rf"^{verdict} in-cluster-smoke: ", message, flags=re.M),
          f"{job}: no experiment line in {message!r}")
    if verdict == "failed":
        check("why: steady state did not hold" in message, f"{job}: no reason in {message!r}")
    check(f"report: /reports/{pod}/report.html" in log,
          f"{job}: no report in /reports/POD_NAME: {log[-1500:]}")
    # Nothing refused: the report folder, the history and the journal were all written.
    for refusal in ("report: ", "history: ", "refusing"):
        check(not re.search(rf"^{refusal}(?!/reports/)", log, flags=re.M),
              f"{job}: gameday complained: {log[-1500:]}")
    # The Job controller counts the pod: Complete, or Failed without a second pod.
    st = {}
    for _ in range(60):
        status, body, _ = api.call("GET", f"/apis/batch/v1/namespaces/gameday/jobs/{job}")
        st = json.loads(body).get("status", {}) if status == 200 else {}
        done = [c for c in st.get("conditions", [])
                if c.get("type") in ("Complete", "Failed") and c.get("status") == "True"]
        if done:
            break
        time.sleep(0.5)
    want = "Complete" if verdict == "passed" else "Failed"
    check([c["type"] for c in done] == [want], f"{job}: Job status {st}")
    status, body, _ = api.call(
        "GET", f"/api/v1/namespaces/gameday/pods?labelSelector=job-name%3D{job}")
    n = len(json.loads(body).get("items", [])) if status == 200 else -1
    check(n == 1, f"{job}: {n} pods: a game day must never be retried")
    return pod


def tools_image(source, tmp):
    """A test image for the chart's volume-owner init container (no registry here): sh, chown
    and chmod from this machine with the libraries ldd names, written by packaging/oci-image.py.
    Returns (archive, image name)."""
    rootfs = os.path.join(tmp, "tools-rootfs")
    for tool, binary in (("sh", "dash"), ("chown", "chown"), ("chmod", "chmod")):
        path = os.path.realpath(shutil.which(binary))
        os.makedirs(os.path.join(rootfs, "bin"), exist_ok=True)
        shutil.copy2(path, os.path.join(rootfs, "bin", tool))
        ldd = run(["ldd", path]).stdout
        for lib in re.findall(r"(/\S+) \(0x[0-9a-f]+\)", ldd):
            dest = os.path.join(rootfs, lib.lstrip("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(os.path.realpath(lib), dest)
    name = "gameday.local/volume-tools:test"
    archive = os.path.join(tmp, "volume-tools.tar")
    r = run([sys.executable, os.path.join(source, "packaging", "oci-image.py"), "dir", "--name",
             name, "--out", archive, "--rootfs", rootfs, "--", "/bin/sh"])
    if r.returncode != 0:
        raise RuntimeError(f"oci-image.py dir: {r.stderr}")
    return archive, name


def real_node_job(opts, helm, harness, chart):
    """The chart's one-off Job, from gameday's image, on a real node (kubelet, containerd, runc):
    the pod's termination message must be gameday's verdict, `passed`."""
    if os.geteuid() != 0:
        print("deploy_test: SKIPPED: a real node needs root (namespaces, cgroups, iptables)")
        return 77
    # What a real node needs, as the real-node test sees it: skipped without, failed under CI.
    missing = [t for t in ("runc", "ip", "iptables-save", "nsenter", "haproxy")
               if shutil.which(t) is None]
    if not os.path.exists("/usr/lib/cni/bridge"):
        missing.append("containernetworking-plugins")
    bins = run(["bash", os.path.join(harness, "build-k8s.sh"), "--with-nodes"], timeout=3600)
    if bins.returncode != 0:
        missing.append(f"the node binaries (build-k8s.sh --with-nodes: {bins.stderr[-1500:]})")
    if missing:
        why = "a real node needs: " + ", ".join(missing) + " (scripts/setup.sh)"
        if os.environ.get("CI"):
            fail(why)
            return 1
        print(f"deploy_test: SKIPPED: {why}")
        return 77
    k8s_bin = bins.stdout.strip().splitlines()[-1]
    image = image_name(opts.real_node)
    repo, tag = image.rsplit(":", 1)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gameday-deploy-job-") as tmp:
        plane = os.path.join(tmp, "plane")
        env = dict(os.environ, GAMEDAY_K8S_BIN=k8s_bin, GAMEDAY_PLANE_NODES="0",
                   GAMEDAY_PLANE_NODE_NET="1", GAMEDAY_PLANE_OWNER=str(os.getpid()))
        try:
            up = run(["bash", os.path.join(harness, "k8s-plane.sh"), "up", plane], env=env,
                     timeout=300)
            if not check(up.returncode == 0, f"k8s-plane.sh up: {up.stderr[-3000:]}"):
                return 1
            tools, tools_name = tools_image(opts.source, tmp)
            node = run(["bash", os.path.join(harness, "real-node.sh"), "up", plane, "real-1", "1"],
                       env=dict(env, GAMEDAY_NODE_IMAGES=f"{opts.real_node} {tools}"), timeout=600)
            if not check(node.returncode == 0, f"real-node.sh up: {node.stderr[-3000:]}"):
                return 1
            print(f"plane and real node up in {time.monotonic() - t0:.1f} s")
            api = Api(plane)
            penv = dict(line.split("=", 1) for line in open(os.path.join(plane, "plane.env"))
                        .read().split() if "=" in line)
            henv = dict(os.environ, HOME=tmp, XDG_CONFIG_HOME=f"{tmp}/config",
                        XDG_CACHE_HOME=f"{tmp}/cache", XDG_DATA_HOME=f"{tmp}/data")
            api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "gameday"}})
            # The report volume: a hostPath PersistentVolume on the node, root's and 0777 (as
            # emptyDir and many provisioners make them), bound to the claim "reports".
            node_sh = ["bash", os.path.join(harness, "real-node.sh"), "exec", plane, "real-1"]
            mk = run([*node_sh, "sh", "-c", "mkdir -p /var/lib/gameday-reports-test && "
                      "chmod 0777 /var/lib/gameday-reports-test"], env=env)
            if not check(mk.returncode == 0, f"making the volume's folder: {mk.stderr}"):
                return 1
            api.create("/api/v1/persistentvolumes", {
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": "gameday-reports-test"},
                "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"],
                         "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                         "hostPath": {"path": "/var/lib/gameday-reports-test",
                                      "type": "Directory"}}})
            api.create("/api/v1/namespaces/gameday/persistentvolumeclaims", {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "reports"},
                "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                         "volumeName": "gameday-reports-test",
                         "resources": {"requests": {"storage": "1Gi"}}}})
            no_volume = ["--set", "persistence.enabled=false", "--set", "recover.enabled=false"]
            # The first release also runs the reaper, every minute.
            reaper = ["--set", "persistence.enabled=false"]
            volume = ["--set", "persistence.existingClaim=reports", "--set", "recover.enabled=false",
                      "--set", f"persistence.fixOwner.image={tools_name}"]
            # A game day that passes (the API server answers), one that fails (nothing listens
            # on port 1, so the steady state never holds and nothing is injected), and one that
            # passes with its reports, history and journal on the volume.
            for release, port, verdict, values in (
                    ("gd", penv["API_PORT"], "passed", reaper),
                    ("gd-fail", "1", "failed", no_volume),
                    ("gd-volume", penv["API_PORT"], "passed", volume)):
                pod = one_job(api, helm, henv, chart, tmp, opts.gameday, release, repo, tag,
                              penv["NODE_GATEWAY"], port, verdict, values)
            # Each run ended with nothing live, so it deleted its cluster journal.
            status, body, _ = api.call("GET", "/api/v1/namespaces/gameday/configmaps?"
                                       "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dgameday")
            left = [i["metadata"]["name"] for i in json.loads(body).get("items", [])]
            check(status == 200 and not left, f"cluster journals left behind: {status} {left}")
            # The reaper, as the chart runs it (its first scheduled Job within a minute), finds
            # nothing to revert and succeeds with the rights `gameday rbac` gave it.
            t_reaper, reaped, log = time.monotonic(), None, ""
            while time.monotonic() - t_reaper < 100 and reaped is None:
                status, body, _ = api.call(
                    "GET", "/api/v1/namespaces/gameday/pods?labelSelector="
                    "app.kubernetes.io%2Fcomponent%3Drecover")
                for p in json.loads(body).get("items", []) if status == 200 else []:
                    if p.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                        reaped = p
                        break
                time.sleep(1)
            if check(reaped is not None, "no reaper Job ran within 100 s"):
                name = reaped["metadata"]["name"]
                status, log, _ = api.call("GET", f"/api/v1/namespaces/gameday/pods/{name}/log")
                print(f"reaper {name}: {reaped['status']['phase']}; log:\n{log.strip()}")
                check(reaped["status"]["phase"] == "Succeeded", f"the reaper failed: {log}")
            # What the last run left on the volume, as the node sees it: gameday's own folders.
            ls = run([*node_sh, "sh", "-c", "cd /var/lib/gameday-reports-test && stat -c "
                      "'%n %u %a' . history.db state state/journal " + (pod or "none") +
                      " " + (pod or "none") + "/result.json"], env=env)
            print(f"on the volume:\n{ls.stdout}{ls.stderr}")
            if check(ls.returncode == 0 and pod, f"the volume lacks files: {ls.stderr}"):
                owners = {line.split()[0]: line.split()[1:] for line in ls.stdout.splitlines()}
                check(owners["."] == ["65532", "755"], f"the volume's root: {owners['.']}")
                check(owners["state/journal"] == ["65532", "700"],
                      f"the journal folder: {owners['state/journal']}")
                check(owners[f"{pod}/result.json"][0] == "65532", f"result.json: {owners}")
        finally:
            down = run(["bash", os.path.join(harness, "k8s-plane.sh"), "down", plane],
                       env=env, timeout=300)
            check(down.returncode == 0, f"k8s-plane.sh down: {down.stderr[-2000:]}")
    print(f"deploy_test (real node): {time.monotonic() - t0:.1f} s")
    if FAILURES:
        return 1
    print("deploy_test: ok")
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", required=True, help="the repository")
    parser.add_argument("--gameday", required=True, help="the gameday binary")
    parser.add_argument("--real-node", metavar="IMAGE_TAR",
                        help="instead: run the chart's one-off Job from this image on a real node")
    opts = parser.parse_args()
    t0 = time.monotonic()
    harness = os.path.join(opts.source, "tests", "harness")
    chart = os.path.join(opts.source, "deploy", "helm", "gameday")
    manifests = os.path.join(opts.source, "deploy", "manifests")

    helm = os.environ.get("GAMEDAY_HELM", "")
    if not helm:
        built = run(["bash", os.path.join(harness, "build-helm.sh")], timeout=1800)
        if built.returncode != 0:
            print(f"deploy_test: SKIPPED: helm could not be built:\n{built.stderr[-2000:]}")
            return 77
        helm = os.path.join(built.stdout.strip().splitlines()[-1], "helm")
    if not os.access(helm, os.X_OK):
        fail(f"no helm at {helm}")
        return 1

    if opts.real_node:
        return real_node_job(opts, helm, harness, chart)

    help_text = run([opts.gameday, "run", "--help"]).stdout
    run_flags = set(re.findall(r"(--[a-z][-a-z]*)", help_text))
    if not check("--termination-log" in run_flags, "`gameday run --help` names no "
                 "--termination-log"):
        return 1

    with tempfile.TemporaryDirectory(prefix="gameday-deploy-test-") as tmp:
        # helm keeps its config and caches under HOME: a folder of the test's own.
        henv = dict(os.environ, HOME=tmp, XDG_CONFIG_HOME=f"{tmp}/config",
                    XDG_CACHE_HOME=f"{tmp}/cache", XDG_DATA_HOME=f"{tmp}/data")
        plan = os.path.join(opts.source, "deploy", "plans", "pod-kill.yaml")
        rbac = os.path.join(tmp, "rbac.yaml")
        r = run([opts.gameday, "rbac", plan, "--service-account", "gameday/gd-gameday",
                 "--cluster-journal", "gameday", "--lock-namespace", "gameday"])
        if not check(r.returncode == 0, f"gameday rbac {plan}: {r.stderr}"):
            return 1
        open(rbac, "w").write(r.stdout)
        r = run([opts.gameday, "validate", plan])
        check(r.returncode == 0, f"gameday validate {plan}: {r.stdout}{r.stderr}")

        plan_arg = ["--set-file", f"plans.pod-kill\\.yaml={plan}"]
        t_lint = time.monotonic()
        r = run([helm, "lint", "--strict", chart, *plan_arg], env=henv)
        check(r.returncode == 0 and "0 chart(s) failed" in r.stdout,
              f"helm lint --strict: {r.stdout}{r.stderr}")
        # Without plans the chart refuses to render, naming what is missing.
        r = run([helm, "template", "gd", chart, "-n", "gameday"], env=henv)
        check(r.returncode != 0 and "no plans" in r.stderr,
              f"helm template without plans did not refuse: {r.returncode} {r.stderr[:300]}")

        r = run([helm, "template", "gd", chart, "-n", "gameday", *plan_arg,
                 "--set", "clusterJournal.enabled=false"], env=henv)
        check(r.returncode != 0 and "needs clusterJournal.enabled" in r.stderr,
              f"helm template with a reaper but no cluster journal did not refuse: {r.stderr[:300]}")

        # name -> (helm arguments, what the run workloads must show)
        value_sets = {
            "defaults+rbac+one-off": (
                [*plan_arg, "--set-file", f"rbac.manifest={rbac}", "--set", "oneOff.enabled=true",
                 "--set", "pushgateway=http://198.18.0.9:9091", "--set", "timeZone=Etc/UTC"],
                dict(expect_init=True, expect_readonly=True, journal="gameday")),
            "no-volume,no-reaper,no-journal,suspended,own-configmap": (
                ["--set", "persistence.enabled=false", "--set", "recover.enabled=false",
                 "--set", "clusterJournal.enabled=false", "--set", "lock.enabled=false",
                 "--set", "suspend=true", "--set", "existingPlansConfigMap=my-plans",
                 "--set", "planFiles={a.yaml,b.yaml}", "--set", "serviceAccount.create=false",
                 "--set", "serviceAccount.name=gameday"],
                dict(expect_init=False, expect_readonly=False, journal=None)),
            "existing-claim,owner-fixed-elsewhere,journal-elsewhere": (
                [*plan_arg, "--set", "persistence.existingClaim=reports",
                 "--set", "persistence.fixOwner.enabled=false", "--set", "activeDeadlineSeconds=7200",
                 "--set", "extraArgs={--report-mode,0644}",
                 "--set", "clusterJournal.namespace=gameday-journal"],
                dict(expect_init=False, expect_readonly=True, journal="gameday-journal")),
        }
        rendered = {}
        for name, (args, _) in value_sets.items():
            r = run([helm, "template", "gd", chart, "-n", "gameday", *args], env=henv)
            if check(r.returncode == 0, f"helm template ({name}): {r.stderr}"):
                rendered[name] = documents(r.stdout)
                print(f"helm template ({name}): {len(rendered[name])} objects")
        t_helm = time.monotonic() - t_lint

        plane = os.path.join(tmp, "plane")
        env = dict(os.environ, GAMEDAY_PLANE_NODES="1", GAMEDAY_PLANE_OWNER=str(os.getpid()))
        t_up = time.monotonic()
        try:
            up = run(["bash", os.path.join(harness, "k8s-plane.sh"), "up", plane], env=env,
                     timeout=300)
            if not check(up.returncode == 0, f"k8s-plane.sh up: {up.stderr[-3000:]}"):
                return 1
            print(f"test plane up in {time.monotonic() - t_up:.1f} s")
            api = Api(plane)
            t_dry = time.monotonic()
            plain = {}
            for f in sorted(os.listdir(manifests)):
                if f.endswith(".yaml"):
                    plain[f] = documents(open(os.path.join(manifests, f)).read())
            # Namespaces first, while they do not exist; then they are made for real, with the
            # restricted Pod Security Standard as a warning (never enforced) for gameday's.
            for f, docs in plain.items():
                for d in docs:
                    if top_field(d, "kind") == "Namespace":
                        api.dry_run(d, "gameday", f)
            ps = {"pod-security.kubernetes.io/warn": "restricted",
                  "pod-security.kubernetes.io/warn-version": "latest"}
            for ns in ("gameday", "shop"):
                api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": ns, "labels": ps}})

            for f, docs in plain.items():
                for d in docs:
                    if top_field(d, "kind") == "Namespace":
                        continue
                    res = api.dry_run(d, "gameday", f)
                    if not res:
                        continue
                    obj, warnings = res
                    label = f"{f}: {obj['kind']}"
                    if obj["kind"] == "ConfigMap":
                        for key, text in obj.get("data", {}).items():
                            p = os.path.join(tmp, key)
                            open(p, "w").write(text)
                            if key == "pod-kill.yaml":
                                check(text == open(plan).read(),
                                      f"{label}: {key} differs from deploy/plans/{key}")
                            v = run([opts.gameday, "validate", p])
                            check(v.returncode == 0, f"{label}: plan {key}: {v.stdout}{v.stderr}")
                    if obj["kind"] in ("Job", "CronJob"):
                        _, pod = pod_spec(obj)
                        if pod["containers"][0].get("args", [""])[0] == "run":
                            check_run_workload(obj, warnings, label, run_flags, True, True,
                                               "metadata.namespace")
                            args = pod["containers"][0]["args"]
                            check("/plans/pod-kill.yaml" in args, f"{label}: {args}")
                        else:
                            check(obj["spec"].get("concurrencyPolicy") == "Forbid",
                                  f"{label}: the reaper may overlap itself")
                            check(pod["containers"][0].get("args") ==
                                  ["recover", "--cluster", "--cluster-journal-namespace", "gameday"],
                                  f"{label}: args {pod['containers'][0].get('args')}")

            for name, docs in rendered.items():
                _, expect = value_sets[name]
                kinds = []
                objs = {}
                for d in docs:
                    res = api.dry_run(d, "gameday", f"chart ({name})")
                    if not res:
                        continue
                    obj, warnings = res
                    kinds.append(obj["kind"])
                    objs.setdefault(obj["kind"], []).append(obj)
                    label = f"chart ({name}): {obj['kind']} {obj['metadata'].get('name')}"
                    if obj["kind"] in ("Job", "CronJob") and "recover" not in obj["metadata"]["name"]:
                        check_run_workload(obj, warnings, label, run_flags, **expect)
                    if obj["kind"] == "CronJob" and "recover" in obj["metadata"]["name"]:
                        _, pod = pod_spec(obj)
                        args = pod["containers"][0]["args"]
                        check(args == ["recover", "--cluster", "--cluster-journal-namespace",
                                       expect["journal"]], f"{label}: args {args}")
                        check(obj["spec"]["schedule"] == "* * * * *", f"{label}: schedule")
                        ps_warn = [w for w in warnings if "would violate" in w]
                        check(not ps_warn, f"{label}: not restricted: {ps_warn}")
                print(f"chart ({name}): {sorted(kinds)}")
                if name.startswith("defaults"):
                    for k in ("ServiceAccount", "ConfigMap", "PersistentVolumeClaim", "CronJob",
                              "Job"):
                        check(k in kinds, f"chart ({name}): no {k} rendered")
                    # The rights exactly as `gameday rbac` printed them, every one accepted.
                    want = sorted(top_field(d, "kind") for d in documents(open(rbac).read()))
                    got = sorted(k for k in kinds if k.endswith(("Role", "RoleBinding")))
                    check(want and got == want, f"chart ({name}): RBAC {got}, gameday rbac {want}")
                    check(kinds.count("CronJob") == 2, f"chart ({name}): the reaper is missing")
                if name.startswith("no-volume"):
                    check("--cluster-journal" not in json.dumps(objs), f"chart ({name}): journal")
                    for k in ("PersistentVolumeClaim", "ConfigMap", "ServiceAccount", "Job"):
                        check(k not in kinds, f"chart ({name}): a {k} was rendered")
                    check(kinds == ["CronJob"], f"chart ({name}): {kinds}")
                    cron = objs["CronJob"][0]
                    _, pod = pod_spec(cron)
                    check(cron["spec"].get("suspend") is True, f"chart ({name}): not suspended")
                    args = pod["containers"][0]["args"]
                    check(args[1:3] == ["/plans/a.yaml", "/plans/b.yaml"], f"chart ({name}): {args}")
                    check([v["name"] for v in pod["volumes"]] == ["plans"] and
                          pod["volumes"][0]["configMap"]["name"] == "my-plans",
                          f"chart ({name}): volumes {pod['volumes']}")
                if name.startswith("existing-claim"):
                    check("PersistentVolumeClaim" not in kinds, f"chart ({name}): a PVC too")
                    _, pod = pod_spec(objs["CronJob"][0])
                    claims = [v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
                              if "persistentVolumeClaim" in v]
                    check(claims == ["reports"], f"chart ({name}): claims {claims}")
                    check(objs["CronJob"][0]["spec"]["jobTemplate"]["spec"].get(
                        "activeDeadlineSeconds") == 7200, f"chart ({name}): no deadline")
            print(f"dry runs done in {time.monotonic() - t_dry:.1f} s")
        finally:
            down = run(["bash", os.path.join(harness, "k8s-plane.sh"), "down", plane], timeout=120)
            check(down.returncode == 0, f"k8s-plane.sh down: {down.stderr[-2000:]}")
    print(f"deploy_test: helm lint+template {t_helm:.1f} s, total {time.monotonic() - t0:.1f} s")
    if FAILURES:
        print(f"deploy_test: {len(FAILURES)} failure(s)", file=sys.stderr)
        return 1
    print("deploy_test: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
