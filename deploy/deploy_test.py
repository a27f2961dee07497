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

With --reaper IMAGE_TAR instead (test gameday_deploy_reaper, issue 14): a test plane with a
KWOK node (the shop's web pods) and two real nodes; the chart installed three times with a 300 s
network partition of shop/web, the cluster journal's ttl 6 s, the run pinned to real-1 and the
reaper to real-2. Once gameday's NetworkPolicy is in, the runner is taken away: its pod deleted
with gracePeriodSeconds=0 (the kubelet still sends SIGTERM: gameday reverts at once, by itself),
its container SIGKILLed (then the pod deleted), and node real-1 taken down whole. In the last two
nobody helps: the reaper CronJob must remove the policy and the partition label and delete the
journal ConfigMap, within the fault's expiry. Prints schedule-to-first-probe (the Job's creation
to the runner's "engine: sampling" line) and each heal time, split into the heartbeat's last
ttl, the wait for the reaper's minute and the reaper's own run.

Standard library only. Exit 77 (skipped) only when helm cannot be built, or for --real-node
without root or a real node's tools (failed instead when $CI is set); 1 with the reason on any
failure.
"""

import argparse
import calendar
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
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
            values, scheduled=False):
    """Installs the chart's one-off Job as RELEASE (rendered by helm, created for real) with a
    plan probing HOST:PORT and checks its pod's termination message says VERDICT. SCHEDULED:
    the chart's CronJob instead, every minute; its first scheduled Job is the one checked."""
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
    # Either only the one-off Job, or only the schedule; on the real node.
    when = (["--set", "oneOff.enabled=false", "--set", "suspend=false",
             "--set", "schedule=* * * * *"] if scheduled else
            ["--set", "oneOff.enabled=true", "--set", "suspend=true"])
    r = run([helm, "template", release, chart, "-n", "gameday", *values,
             "--set-file", f"plans.smoke\\.yaml={plan}", *when,
             "--set-file", f"rbac.manifest={rbac}",
             "--set", f"image.repository={repo}",
             "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never",
             "--set", "nodeSelector.type=real", "--set", "terminationGracePeriodSeconds=5"],
            env=henv)
    if not check(r.returncode == 0, f"helm template: {r.stderr}"):
        return
    job, cron, scheduled_at = None, None, ""
    for d in documents(r.stdout):
        kind, name = top_field(d, "kind"), metadata_field(d, "name")
        path = api.collection(top_field(d, "apiVersion"), kind, "gameday")
        status, body, _ = api.call("POST", path, d.encode(), "application/yaml")
        if not check(status in (200, 201), f"create {kind} {name}: HTTP {status}: {body[:500]}"):
            return
        if kind == "Job":
            job = name
        if kind == "CronJob" and scheduled and "recover" not in name:
            cron = name
    if scheduled:
        # The controller starts the first run at the next minute.
        t_wait = time.monotonic()
        while job is None and time.monotonic() - t_wait < 90:
            status, body, _ = api.call("GET", "/apis/batch/v1/namespaces/gameday/jobs")
            for j in json.loads(body).get("items", []) if status == 200 else []:
                if any(o.get("kind") == "CronJob" and o.get("name") == cron
                       for o in j["metadata"].get("ownerReferences", [])):
                    job = j["metadata"]["name"]
                    scheduled_at = j["metadata"].get("annotations", {}).get(
                        "batch.kubernetes.io/cronjob-scheduled-timestamp", "")
            time.sleep(0.5)
    if not check(job, "the chart rendered no Job" if not scheduled else
                 f"CronJob {release}: no scheduled Job within 90 s"):
        return
    if scheduled:
        # One scheduled run is the test; no second one a minute later.
        status, body, _ = api.call("PATCH", f"/apis/batch/v1/namespaces/gameday/cronjobs/{cron}",
                                   b'{"spec":{"suspend":true}}', "application/merge-patch+json")
        check(status == 200, f"suspending CronJob {cron}: HTTP {status}: {body[:300]}")
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
    if scheduled and scheduled_at:
        # Schedule to first probe: the controller's scheduled time to the log line where the
        # engine starts sampling (the kubelet's timestamps).
        status, stamped, _ = api.call(
            "GET", f"/api/v1/namespaces/gameday/pods/{pod}/log?timestamps=true")
        first = next((x for x in stamped.splitlines() if "engine: sampling" in x), "")
        if check(first, f"{job}: no sampling line in the log"):
            print(f"CronJob {release}: scheduled {scheduled_at}, first probe "
                  f"{rfc3339(first.split(' ', 1)[0]) - rfc3339(scheduled_at):.2f} s later")
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


def real_node_binaries(harness):
    """The node binaries' folder (build-k8s.sh --with-nodes), or an exit code: 77 (skipped) when
    this machine cannot run a real node, 1 when it cannot under $CI."""
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
    return bins.stdout.strip().splitlines()[-1]


def real_node_job(opts, helm, harness, chart):
    """The chart's one-off Job, from gameday's image, on a real node (kubelet, containerd, runc):
    the pod's termination message must be gameday's verdict, `passed`."""
    k8s_bin = real_node_binaries(harness)
    if isinstance(k8s_bin, int):
        return k8s_bin
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
            # on port 1, so the steady state never holds and nothing is injected), and a
            # scheduled one (the CronJob, every minute) that passes with its reports, history
            # and journal on the volume.
            for release, port, verdict, values, scheduled in (
                    ("gd", penv["API_PORT"], "passed", reaper, False),
                    ("gd-fail", "1", "failed", no_volume, False),
                    ("gd-volume", penv["API_PORT"], "passed", volume, True)):
                pod = one_job(api, helm, henv, chart, tmp, opts.gameday, release, repo, tag,
                              penv["NODE_GATEWAY"], port, verdict, values, scheduled)
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
                # The runs stay reviewable: `gameday history` on the volume (as its owner, like
                # a pod mounting it would run it) lists the scheduled run.
                hist = run([*node_sh, "setpriv", "--reuid", "65532", "--regid", "65532",
                            "--clear-groups", opts.gameday, "history", "--db",
                            "/var/lib/gameday-reports-test/history.db"], env=env)
                print(f"gameday history on the volume:\n{hist.stdout}{hist.stderr}")
                run_id = json.loads(run([*node_sh, "cat", "/var/lib/gameday-reports-test/"
                                         f"{pod}/result.json"], env=env).stdout or "{}").get(
                                             "run_id", "?")
                check(hist.returncode == 0 and run_id in hist.stdout,
                      f"gameday history does not list run {run_id}: {hist.stderr}")
        finally:
            down = run(["bash", os.path.join(harness, "k8s-plane.sh"), "down", plane],
                       env=env, timeout=300)
            check(down.returncode == 0, f"k8s-plane.sh down: {down.stderr[-2000:]}")
    print(f"deploy_test (real node): {time.monotonic() - t0:.1f} s")
    if FAILURES:
        return 1
    print("deploy_test: ok")
    return 0


PARTITION_PLAN = """\
# A partition of the shop's web pods (KWOK pods, ingress and egress) for {duration}s: far longer
# than the test waits, so only the reaper can heal it within the test.
name: in-cluster-partition
target:
  kind: kubernetes
warmup: 500ms
verify:
  - name: web-ready
    kind: kubernetes
    interval: 500ms
    spec:
      workload: {{kind: Deployment, namespace: shop, name: web}}
method:
  - inject: network-partition
    name: partition
    duration: {duration}s
    spec:
      namespace: shop
      label_selector: app=web
      direction: both
"""

# The partition's duration: the fault expires (and the reaper would revert it regardless of any
# heartbeat) only after this plus a margin; a heal before it is the heartbeat's doing.
PARTITION_SECONDS = 300
JOURNAL_TTL = 6


def rfc3339(text):
    """Seconds since the epoch of an RFC 3339 UTC time stamp (any number of fraction digits)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", text or "")
    if not m:
        raise ValueError(f"not an RFC 3339 UTC time: {text!r}")
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + float(m.group(2) or 0)


class LogFollower(threading.Thread):
    """Follows a pod's log (?follow=true&timestamps=true) from its start: the lines outlive the
    pod (a force-deleted pod's log is gone from the API)."""

    def __init__(self, api, namespace, pod):
        super().__init__(daemon=True)
        self.lines = []
        self.path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log?follow=true&timestamps=true"
        self.api = api

    def run(self):
        req = urllib.request.Request(self.api.base + self.path)
        req.add_header("Authorization", f"Bearer {self.api.token}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=self.api.ctx))
        try:
            with opener.open(req, timeout=600) as resp:
                for line in resp:
                    self.lines.append(line.decode(errors="replace").rstrip("\n"))
        except Exception as e:  # the node went away, the pod was deleted: the log ends here
            self.lines.append(f"(log stream ended: {e})")

    def first(self, pattern):
        """(time stamp, line) of the first line matching PATTERN."""
        for line in list(self.lines):
            stamp, _, text = line.partition(" ")
            if re.search(pattern, text):
                return rfc3339(stamp), text
        return None, None


def wait_for(what, cond, timeout, step=0.25):
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(step)


def api_items(api, path):
    status, body, _ = api.call("GET", path)
    return json.loads(body).get("items", []) if status == 200 else None


POLICIES = ("/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies?labelSelector="
            "app.kubernetes.io%2Fmanaged-by%3Dgameday")
PARTITIONED = "/api/v1/namespaces/shop/pods?labelSelector=gameday.io%2Fpartition"
JOURNALS = "/api/v1/namespaces/gameday/configmaps?labelSelector=gameday.io%2Fjournal"


def diagnose(api, plane, pod_name):
    """What a failed case leaves to read: the runner pod's status, the namespace's events, and
    the kubelet's complaints on real-1."""
    status, body, _ = api.call("GET", f"/api/v1/namespaces/gameday/pods/{pod_name}")
    if status == 200:
        st = json.loads(body).get("status", {})
        keys = ("podIP", "startTime", "conditions", "containerStatuses")
        print(f"runner pod status: {json.dumps({k: st.get(k) for k in keys})}")
    for e in api_items(api, "/api/v1/namespaces/gameday/events") or []:
        print(f"event: {e.get('lastTimestamp') or e.get('eventTime')} "
              f"{e['involvedObject'].get('name')} {e.get('reason')}: {e.get('message')}")
    for f in ("kubelet.log", "containerd.log", "kube-proxy.log"):
        path = os.path.join(plane, "nodes", "real-1", "logs", f)
        if os.path.exists(path):
            lines = [x for x in open(path, errors="replace").read().splitlines()
                     if x.startswith(("E", "W")) or "level=error" in x or "level=warn" in x]
            print(f"{f} (errors and warnings, last 40):\n" + "\n".join(lines[-40:]))


CASES = {"delete": "pod deleted", "pod": "pod killed", "node": "node lost"}


def lose_runner(api, helm, henv, chart, tmp, gameday, release, repo, tag, how, plane, env,
                harness, k8s_bin):
    """Installs the chart (one-off Job on node real-1, reaper on real-2, cluster journal ttl
    JOURNAL_TTL) with a long network partition of shop/web, and once the partition is in takes
    the runner away: HOW "delete" deletes its pod with gracePeriodSeconds=0 (the kubelet still
    sends SIGTERM: gameday must revert on its own at once); "pod" SIGKILLs its container (as the
    OOM killer would) and deletes the pod; "node" takes node real-1 down whole (kubelet,
    containerd, the runner). For "pod" and "node" the reaper must heal the partition with
    nobody's help, well before the fault's own expiry. Returns the figures (seconds) or None."""
    plan = os.path.join(tmp, f"{release}.yaml")
    open(plan, "w").write(PARTITION_PLAN.format(duration=PARTITION_SECONDS))
    v = run([gameday, "validate", plan])
    if not check(v.returncode == 0, f"the partition plan: {v.stdout}{v.stderr}"):
        return None
    rbac = os.path.join(tmp, f"{release}-rbac.yaml")
    r = run([gameday, "rbac", plan, "--service-account", f"gameday/{release}-gameday",
             "--name", f"{release}-gameday", "--cluster-journal", "gameday",
             "--lock-namespace", "gameday"])
    if not check(r.returncode == 0, f"gameday rbac: {r.stderr}"):
        return None
    open(rbac, "w").write(r.stdout)
    r = run([helm, "template", release, chart, "-n", "gameday",
             "--set-file", f"plans.partition\\.yaml={plan}", "--set", "oneOff.enabled=true",
             "--set-file", f"rbac.manifest={rbac}", "--set", "suspend=true",
             "--set", f"image.repository={repo}", "--set", f"image.tag={tag}",
             "--set", "image.pullPolicy=Never", "--set", "persistence.enabled=false",
             "--set", f"clusterJournal.ttl={JOURNAL_TTL}", "--set", "lock.wait=120",
             # The lock of a killed run is free again after its ttl, for the next case.
             "--set", f"lock.ttl={JOURNAL_TTL}",
             "--set", "terminationGracePeriodSeconds=30",
             "--set", "nodeSelector.kubernetes\\.io/hostname=real-1",
             "--set", "recover.nodeSelector.kubernetes\\.io/hostname=real-2"], env=henv)
    if not check(r.returncode == 0, f"helm template: {r.stderr}"):
        return None
    job, t_create = None, None
    for d in documents(r.stdout):
        kind, name = top_field(d, "kind"), metadata_field(d, "name")
        path = api.collection(top_field(d, "apiVersion"), kind,
                              metadata_field(d, "namespace") or "gameday")
        if kind == "Job":
            t_create = time.time()
        status, body, _ = api.call("POST", path, d.encode(), "application/yaml")
        if not check(status in (200, 201), f"create {kind} {name}: HTTP {status}: {body[:500]}"):
            return None
        if kind == "Job":
            job, job_obj = name, json.loads(body)
        if kind == "CronJob" and "recover" in name:
            _, rpod = pod_spec(json.loads(body))
            check(rpod.get("nodeSelector") == {"kubernetes.io/hostname": "real-2"},
                  f"the reaper's nodeSelector: {rpod.get('nodeSelector')}")
    if not check(job, "the chart rendered no Job"):
        return None
    label = f"[{CASES[how]}] {job}"

    def runner_pods():
        return api_items(api, f"/api/v1/namespaces/gameday/pods?labelSelector=job-name%3D{job}")

    def running():
        pods = runner_pods() or []
        return pods and pods[0].get("status", {}).get("phase") == "Running" and pods[0]
    pod = wait_for("the runner running", running, 120)
    if not check(pod, f"{label}: the runner is not running within 120 s: {runner_pods()}"):
        return None
    pod_name = pod["metadata"]["name"]
    check(pod["spec"].get("nodeName") == "real-1", f"{label}: the runner is on "
          f"{pod['spec'].get('nodeName')}, not real-1")
    follower = LogFollower(api, "gameday", pod_name)
    follower.start()
    def partition_or_runner_gone():
        pods = runner_pods() or []
        gone = not pods or pods[0].get("status", {}).get("phase") in ("Succeeded", "Failed")
        return api_items(api, POLICIES) or ("gone" if gone else None)
    policies = wait_for("the partition", partition_or_runner_gone, 120)
    t_policy = time.time()
    if policies == "gone":
        time.sleep(1)  # the rest of its log
    if not check(policies and policies != "gone", f"{label}: no NetworkPolicy of gameday "
                 "(within 120 s, or the runner ended first); runner log:\n"
                 + "\n".join(follower.lines[-30:])):
        diagnose(api, plane, pod_name)
        return None
    partitioned = api_items(api, PARTITIONED) or []
    journals = api_items(api, JOURNALS) or []
    check(len(partitioned) == 1, f"{label}: {len(partitioned)} pod(s) labelled, expected 1 (the "
          "step's default selection: one pod)")
    if not check(len(journals) == 1 and journals[0].get("data"),
                 f"{label}: the cluster journal: {journals}"):
        return None
    print(f"{label}: partition in ({len(policies)} NetworkPolicies, {len(partitioned)} pods "
          f"labelled), cluster journal {journals[0]['metadata']['name']}")
    alive_until = [float(journals[0]["metadata"]["annotations"]["gameday.io/alive-until"]) / 1000]
    # The runner has been probing for a while; one more heartbeat renewal is not needed.
    t_probe, probe_line = follower.first(r"engine: sampling \d+ verifier")
    t_created = rfc3339(job_obj["metadata"]["creationTimestamp"])

    t_kill = time.time()
    if how == "delete":
        # What `kubectl delete pod --grace-period=0` does: the pod object goes at once, but the
        # kubelet still stops the container with SIGTERM first, and gameday reverts.
        status, body, _ = api.call("DELETE", f"/api/v1/namespaces/gameday/pods/{pod_name}"
                                   "?gracePeriodSeconds=0")
        check(status == 200, f"{label}: DELETE pod: HTTP {status}: {body[:300]}")
    elif how == "pod":
        # SIGKILL, as the OOM killer or a crash would: nothing of gameday runs after it. (A
        # DELETE alone, even with gracePeriodSeconds=0, has the kubelet send SIGTERM first, and
        # gameday then reverts its faults itself.)
        cid = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
        k = run(["bash", os.path.join(harness, "real-node.sh"), "exec", plane, "real-1",
                 os.path.join(k8s_bin, "ctr"), "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL",
                 cid], env=env, timeout=30)
        check(k.returncode == 0, f"{label}: ctr tasks kill: {k.stderr}")
        status, body, _ = api.call("DELETE", f"/api/v1/namespaces/gameday/pods/{pod_name}"
                                   "?gracePeriodSeconds=0")
        check(status == 200, f"{label}: DELETE pod: HTTP {status}: {body[:300]}")
    else:
        down = run(["bash", os.path.join(harness, "real-node.sh"), "down", plane, "real-1"],
                   env=env, timeout=120)
        check(down.returncode == 0, f"{label}: real-node.sh down real-1: {down.stderr[-2000:]}")
    t_killed = time.time()

    # Nobody helps from here on: only the reaper may heal it, well before the fault's own expiry.
    t_healed = t_unlabelled = t_journal_gone = None
    deadline = t_kill + (30 if how == "delete" else JOURNAL_TTL + 150)
    while time.time() < deadline and None in (t_healed, t_unlabelled, t_journal_gone):
        now = time.time()
        if t_healed is None and api_items(api, POLICIES) == []:
            t_healed = now
        if t_unlabelled is None and api_items(api, PARTITIONED) == []:
            t_unlabelled = now
        js = api_items(api, JOURNALS)
        if js:
            a = js[0]["metadata"].get("annotations", {}).get("gameday.io/alive-until")
            if a:
                alive_until.append(float(a) / 1000)
        elif t_journal_gone is None and js == []:
            t_journal_gone = now
        time.sleep(0.25)
    if how == "delete":
        ok = check(None not in (t_healed, t_unlabelled, t_journal_gone),
                   f"{label}: the runner did not revert on SIGTERM: policy gone {t_healed}, "
                   f"labels gone {t_unlabelled}, journal gone {t_journal_gone}")
        wait_for("the runner's last words", lambda: any("why: interrupted by SIGTERM" in x
                                                       for x in follower.lines), 10)
        check(any("SIGTERM received: reverting every live fault" in x for x in follower.lines)
              and any("why: interrupted by SIGTERM" in x for x in follower.lines),
              f"{label}: no SIGTERM revert in the runner's log: {follower.lines[-15:]}")
        if not ok:
            return None
        fig = {"heal": t_healed - t_kill, "journal_gone": t_journal_gone - t_kill}
        check(fig["heal"] < 5, f"{label}: the runner took {fig['heal']:.1f} s to revert")
        print(f"{label}: the runner reverted its own partition on SIGTERM: " +
              ", ".join(f"{k} {v:.1f} s" for k, v in fig.items()))
        return fig
    reapers = api_items(api, "/api/v1/namespaces/gameday/pods?labelSelector=app.kubernetes.io"
                        f"%2Fcomponent%3Drecover%2Capp.kubernetes.io%2Finstance%3D{release}") or []
    healer, healer_log = None, ""
    for p in sorted(reapers, key=lambda p: p["metadata"]["creationTimestamp"]):
        status, log, _ = api.call("GET", f"/api/v1/namespaces/gameday/pods/"
                                  f"{p['metadata']['name']}/log?timestamps=true")
        if status == 200 and re.search(r"recover: [1-9]\d* fault\(s\) reverted", log):
            healer, healer_log = p, log
            break
    if not check(None not in (t_healed, t_unlabelled, t_journal_gone),
                 f"{label}: not healed {deadline - t_kill:.0f} s after the kill: policy gone "
                 f"{t_healed}, labels gone {t_unlabelled}, journal gone {t_journal_gone}; "
                 f"reaper pods {[p['metadata']['name'] for p in reapers]}; runner log:\n" +
                 "\n".join(follower.lines[-20:])):
        diagnose(api, plane, pod_name)
        return None
    if not check(healer is not None, f"{label}: healed, but by no reaper (the runner itself?); "
                 "runner log:\n" + "\n".join(follower.lines[-20:])):
        return None
    # gameday itself never ran again after the kill: no revert of its own, no verdict.
    tail = [x for x in follower.lines
            if re.match(r"\d{4}-\S+Z ", x) and rfc3339(x.split(" ", 1)[0]) >= t_kill]
    check(not any(re.search(r"revert|signal|aborted", x) for x in tail),
          f"{label}: the runner ran on after the kill: {tail}")
    check(healer["spec"].get("nodeName") == "real-2",
          f"{label}: the reaper ran on {healer['spec'].get('nodeName')}, not real-2")
    rjob = healer["metadata"].get("labels", {}).get("job-name", "")
    status, body, _ = api.call("GET", f"/apis/batch/v1/namespaces/gameday/jobs/{rjob}")
    rj = json.loads(body) if status == 200 else {}
    sched = rj.get("metadata", {}).get("annotations", {}).get(
        "batch.kubernetes.io/cronjob-scheduled-timestamp")
    t_sched = rfc3339(sched) if sched else rfc3339(rj["metadata"]["creationTimestamp"])
    lapse = max(alive_until)
    # The Job never gets a second pod.
    names = {p["metadata"]["name"] for p in runner_pods() or []}
    check(names <= {pod_name}, f"{label}: the game day got another pod: {names}")
    print(f"{label}: healed by {healer['metadata']['name']} on {healer['spec'].get('nodeName')}:"
          f"\n{healer_log.strip()}")
    fig = {
        "schedule_to_first_probe": (t_probe - t_created) if t_probe else None,
        "create_to_first_probe": (t_probe - t_create) if t_probe else None,
        "policy_after_create": t_policy - t_create,
        "kill_took": t_killed - t_kill,
        "heal": t_healed - t_kill,
        "labels_gone": t_unlabelled - t_kill,
        "journal_gone": t_journal_gone - t_kill,
        "heartbeat_left": lapse - t_kill,
        "waiting_for_reaper": t_sched - lapse,
        "reaper_run": t_healed - t_sched,
    }
    check(fig["heal"] < PARTITION_SECONDS, f"{label}: healed only after {fig['heal']:.1f} s")
    check(fig["heartbeat_left"] <= JOURNAL_TTL + 1,
          f"{label}: the heartbeat ran {fig['heartbeat_left']:.1f} s on after the kill")
    check(t_sched >= lapse - 1, f"{label}: the reaper that healed was scheduled before the "
          "heartbeat lapsed")
    if probe_line:
        print(f"{label}: the runner's log up to the partition:\n" + "\n".join(
            follower.lines[:8]))
    else:
        fail(f"{label}: no 'engine: sampling' line in the runner's log: {follower.lines[:20]}")
    print(f"{label}: " + ", ".join(f"{k} {v:.1f} s" for k, v in fig.items() if v is not None))
    return fig


def real_node_reaper(opts, helm, harness, chart):
    """Issue 14: the runner pod killed, and separately its node, in the middle of a network
    partition; the chart's reaper CronJob heals it with nobody's help."""
    k8s_bin = real_node_binaries(harness)
    if isinstance(k8s_bin, int):
        return k8s_bin
    repo, tag = image_name(opts.reaper).rsplit(":", 1)
    t0 = time.monotonic()
    figures = {}
    with tempfile.TemporaryDirectory(prefix="gameday-deploy-reaper-") as tmp:
        plane = os.path.join(tmp, "plane")
        # One KWOK node for the shop's pods, two real nodes for gameday.
        env = dict(os.environ, GAMEDAY_K8S_BIN=k8s_bin, GAMEDAY_PLANE_NODES="1",
                   GAMEDAY_PLANE_NODE_NET="1", GAMEDAY_PLANE_OWNER=str(os.getpid()))
        try:
            up = run(["bash", os.path.join(harness, "k8s-plane.sh"), "up", plane], env=env,
                     timeout=300)
            if not check(up.returncode == 0, f"k8s-plane.sh up: {up.stderr[-3000:]}"):
                return 1
            for name, index in (("real-1", "1"), ("real-2", "2")):
                node = run(["bash", os.path.join(harness, "real-node.sh"), "up", plane, name,
                            index], env=dict(env, GAMEDAY_NODE_IMAGES=opts.reaper), timeout=600)
                if not check(node.returncode == 0, f"real-node.sh up {name}: "
                             f"{node.stderr[-3000:]}"):
                    return 1
            print(f"plane and two real nodes up in {time.monotonic() - t0:.1f} s")
            api = Api(plane)
            henv = dict(os.environ, HOME=tmp, XDG_CONFIG_HOME=f"{tmp}/config",
                        XDG_CACHE_HOME=f"{tmp}/cache", XDG_DATA_HOME=f"{tmp}/data")
            for ns in ("gameday", "shop"):
                api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                  "metadata": {"name": ns}})
            # The shop's web pods on the KWOK node (as tests/integration/k8s_test_util.h has
            # them): two replicas, Ready as soon as they are scheduled.
            api.create("/apis/apps/v1/namespaces/shop/deployments", {
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
                             "nodeSelector": {"type": "kwok"},
                             "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists",
                                              "effect": "NoSchedule"}],
                             "terminationGracePeriodSeconds": 0,
                             "containers": [{"name": "app", "image": "fake-image"}]}}}})

            def web_ready():
                status, body, _ = api.call("GET", "/apis/apps/v1/namespaces/shop/deployments/web")
                return status == 200 and json.loads(body).get("status", {}).get(
                    "readyReplicas") == 2
            if not check(wait_for("shop/web", web_ready, 60), "shop/web is not ready in 60 s"):
                return 1
            for release, how in (("gd-delete", "delete"), ("gd-podkill", "pod"),
                                 ("gd-nodekill", "node")):
                t = time.monotonic()
                figures[how] = lose_runner(api, helm, henv, chart, tmp, opts.gameday, release,
                                           repo, tag, how, plane, env, harness, k8s_bin)
                print(f"[{CASES[how]}]: {time.monotonic() - t:.1f} s")
                if figures[how] is None:
                    break
                # This release's reaper is done: the next one's alone heals the next partition.
                status, body, _ = api.call(
                    "DELETE", "/apis/batch/v1/namespaces/gameday/cronjobs/"
                    f"{release}-gameday-recover?propagationPolicy=Background")
                check(status == 200, f"deleting {release}'s reaper: HTTP {status}: {body[:300]}")
        finally:
            down = run(["bash", os.path.join(harness, "k8s-plane.sh"), "down", plane],
                       env=env, timeout=300)
            check(down.returncode == 0, f"k8s-plane.sh down: {down.stderr[-2000:]}")
    for how, fig in figures.items():
        if fig:
            print(f"figures [{CASES[how]}]: " + ", ".join(
                f"{k} {v:.1f} s" for k, v in fig.items() if v is not None))
    print(f"deploy_test (reaper): {time.monotonic() - t0:.1f} s")
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
    parser.add_argument("--reaper", metavar="IMAGE_TAR",
                        help="instead: kill the runner (its pod, then its node) mid-partition on "
                        "two real nodes and time the chart's reaper healing it")
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
    if opts.reaper:
        return real_node_reaper(opts, helm, harness, chart)

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
                 "--set", "pushgateway=http://198.18.0.9:9091", "--set", "timeZone=Etc/UTC",
                 "--set", "nodeSelector.pool=gameday"],
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
                 "--set", "clusterJournal.namespace=gameday-journal",
                 "--set", "recover.nodeSelector.pool=ops",
                 "--set", "recover.tolerations[0].key=ops",
                 "--set", "recover.tolerations[0].operator=Exists"],
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
                        # Its own placement, else the runs'.
                        want_sel, want_tol = {}, []
                        if name.startswith("defaults"):
                            want_sel = {"pool": "gameday"}
                        if name.startswith("existing-claim"):
                            want_sel = {"pool": "ops"}
                            want_tol = [{"key": "ops", "operator": "Exists"}]
                        check(pod.get("nodeSelector", {}) == want_sel,
                              f"{label}: nodeSelector {pod.get('nodeSelector')}")
                        check(pod.get("tolerations", []) == want_tol,
                              f"{label}: tolerations {pod.get('tolerations')}")
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
                    check(not pod.get("nodeSelector") and not pod.get("tolerations"),
                          f"chart ({name}): the reaper's placement went to the runs")
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
