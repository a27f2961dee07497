#!/usr/bin/env bash
# Benchmark (issue 13): the side-by-side pod kill. On a real control plane
# (tests/harness/k8s-plane.sh, 5 KWOK nodes) with 5,000 pods, the same 1,000 chosen pods are
# deleted by gameday (`gameday run`, journal on), Chaos Toolkit (`chaos run`, chaosk8s
# terminate_pods), krkn-lib (serial and a thread pool), `kubectl delete --wait=false` and raw
# concurrent DELETEs (the ceiling), once with a 0 s grace period and once with 30 s. Not a test.
#
#   bench/pod_kill_bench.sh [BUILD_DIR] [-- extra pod_kill_bench arguments]
#     e.g. bench/pod_kill_bench.sh build -- --tools gameday,raw-conns --graces 0
#
# BUILD_DIR defaults to ./build; it must hold bin/pod_kill_bench and bin/gameday. kubectl is
# built once into the harness cache (build-k8s.sh --with-kubectl). The peers go into a private
# virtualenv under ~/.cache/gameday (GAMEDAY_CACHE_DIR), made once per pinned version set and
# reused (needs Python >= 3.12 for chaostoolkit 1.21; BENCH_PYTHON picks the interpreter).
# The plane's kube-apiserver writes an audit log of the tools' user only (a wrapper adds the
# flags; the harness is unchanged), from which the bench counts each tool's requests. Everything
# started here (the plane, a running tool's process group, the temp folder) is stopped or removed
# on every exit path. Prints one markdown table, with the machine's load at the start and end.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
BUILD="${1:-$ROOT/build}"
shift || true
[[ "${1:-}" == "--" ]] && shift
[[ -x "$BUILD/bin/pod_kill_bench" ]] || { echo "no $BUILD/bin/pod_kill_bench (ninja pod_kill_bench)" >&2; exit 2; }
[[ -x "$BUILD/bin/gameday" ]] || { echo "no $BUILD/bin/gameday (ninja gameday)" >&2; exit 2; }

log() { printf 'pod_kill_bench.sh: %s\n' "$*" >&2; }
echo "load at start: $(uptime)"

# ---- the peers ------------------------------------------------------------------------------
CTK_VERSION=1.21.4
CTK_K8S_VERSION=0.39.0
KRKN_LIB_VERSION=7.0.3
# krkn-lib imports the `kubeconfig` package, which imports distutils: gone from Python 3.12's
# standard library, setuptools provides it again.
SETUPTOOLS_VERSION=80.10.2
CACHE="${GAMEDAY_CACHE_DIR:-$HOME/.cache/gameday}"

python_312() {
  local c
  for c in ${BENCH_PYTHON:-} python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 python3; do
    command -v "$c" >/dev/null 2>&1 || continue
    if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}
PY=$(python_312) || { log "Python >= 3.12 is needed for chaostoolkit $CTK_VERSION (set BENCH_PYTHON)"; exit 2; }
PYVER=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
VENV="$CACHE/bench-venv-py$PYVER-ctk$CTK_VERSION-k8s$CTK_K8S_VERSION-krkn$KRKN_LIB_VERSION"

DIR=""
VENV_PARTIAL=""
RUN_DIR=""
cleanup() {
  local rc=$?
  if [[ -n "$DIR" ]]; then
    # A tool still running (this script was interrupted): its whole process group.
    if [[ -n "$RUN_DIR" && -f "$RUN_DIR/tool.pgid" ]]; then
      local pg
      pg=$(cat "$RUN_DIR/tool.pgid")
      [[ "$pg" =~ ^[0-9]+$ && "$pg" -gt 1 ]] && kill -KILL -- "-$pg" 2>/dev/null || true
    fi
    cd / && "$ROOT/tests/harness/k8s-plane.sh" down "$DIR" || true
    rm -rf "$DIR"
  fi
  # A virtualenv whose install did not finish is removed, never reused.
  [[ -n "$VENV_PARTIAL" ]] && rm -rf "$VENV_PARTIAL"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ ! -f "$VENV/.complete" ]]; then
  log "installing chaostoolkit $CTK_VERSION, chaostoolkit-kubernetes $CTK_K8S_VERSION, krkn-lib $KRKN_LIB_VERSION into $VENV"
  rm -rf "$VENV"
  VENV_PARTIAL="$VENV"
  mkdir -p "$CACHE"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "chaostoolkit==$CTK_VERSION" \
    "chaostoolkit-kubernetes==$CTK_K8S_VERSION" "krkn-lib==$KRKN_LIB_VERSION" "setuptools==$SETUPTOOLS_VERSION"
  "$VENV/bin/python" -c 'import chaosk8s.pod.actions, krkn_lib.k8s'
  touch "$VENV/.complete"
  VENV_PARTIAL=""
fi

# build-k8s.sh can exit non-zero after adding kubectl to an existing folder (its clean-up calls
# a function that path never defines) although kubectl is there: what counts is the binary.
BIN=$("$ROOT/tests/harness/build-k8s.sh" --with-kubectl | tail -n 1) || true
[[ -n "$BIN" && -x "$BIN/kubectl" && -x "$BIN/kube-apiserver" ]] ||
  { log "build-k8s.sh --with-kubectl gave no kubectl (folder '$BIN')"; exit 2; }

# ---- the plane, with an audit log of the tools' user -----------------------------------------
DIR=$(mktemp -d "${TMPDIR:-/tmp}/gameday-pod-kill-bench-XXXXXX")
RUN_DIR="$DIR/run"  # the tools' folder: plans, logs, gameday's state
mkdir -p "$DIR/shim" "$RUN_DIR" "$RUN_DIR/gameday-state"
chmod 700 "$RUN_DIR/gameday-state"
TOOL_USER=gameday-admin-token  # the bearer-token admin of k8s-plane.sh; kwok and the bench use the certificate
cat >"$DIR/audit-policy.yaml" <<YAML
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
  - level: Metadata
    users: ["$TOOL_USER"]
  - level: None
YAML
for b in etcd kube-controller-manager kube-scheduler kwok; do ln -s "$BIN/$b" "$DIR/shim/$b"; done
# Blocking mode: an event is in the file before its request is answered, so the count is
# complete when the tool exits.
cat >"$DIR/shim/kube-apiserver" <<SH
#!/bin/sh
exec "$BIN/kube-apiserver" "\$@" --audit-policy-file="$DIR/audit-policy.yaml" \\
  --audit-log-path="$DIR/audit.log" --audit-log-mode=blocking --audit-log-format=json \\
  --audit-log-maxsize=2000 --audit-log-maxbackup=1
SH
chmod +x "$DIR/shim/kube-apiserver"
GAMEDAY_K8S_BIN="$DIR/shim" GAMEDAY_PLANE_NODES=5 GAMEDAY_PLANE_OWNER=$$ \
  "$ROOT/tests/harness/k8s-plane.sh" up "$DIR"

# The tools run in the work folder: whatever they drop in their current directory (Chaos
# Toolkit's chaostoolkit.log, from the experiment's own logging setup) goes with it.
BUILD=$(cd "$BUILD" && pwd)
cd "$RUN_DIR"
"$BUILD/bin/pod_kill_bench" --kubeconfig "$DIR/kubeconfig" \
  --tool-kubeconfig "$DIR/kubeconfig-token" --tool-user "$TOOL_USER" \
  --audit-log "$DIR/audit.log" --work "$RUN_DIR" \
  --gameday "$BUILD/bin/gameday" --kubectl "$BIN/kubectl" --chaos "$VENV/bin/chaos" \
  --python "$VENV/bin/python" --krkn-script "$HERE/krkn_pod_kill.py" "$@"
echo "peers: $("$VENV/bin/pip" list --format=freeze 2>/dev/null |
  grep -iE '^(chaostoolkit|chaostoolkit-lib|chaostoolkit-kubernetes|krkn-lib|kubernetes)==' |
  tr '\n' ' ')kubectl $("$BIN/kubectl" version --client 2>/dev/null | head -n 1 | awk '{print $3}')"
echo "load at end: $(uptime)"
