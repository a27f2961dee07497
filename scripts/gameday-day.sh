#!/usr/bin/env bash
# The main job: installs what is needed, builds gameday (and, once, the Kubernetes control plane,
# the real nodes' kubelet, kube-proxy and containerd, and kube-router, from the Go module proxy,
# cached outside the repo), brings the HA sandbox up (its workers real Kubernetes nodes), runs the
# bundled game-day suite against it, prints where the HTML report is, and brings the sandbox down.
#
# Usage: scripts/gameday-day.sh [--no-kubernetes]
#   --no-kubernetes   skip the Kubernetes build and experiments (KWOK and real nodes): etcd masters
#                     and the replicated demo service only (what a fresh machine runs in minutes)
# Root is required (the sandbox's hosts are network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

kubernetes=yes
for arg in "$@"; do
  case "$arg" in
    --no-kubernetes) kubernetes=no ;;
    *) echo "usage: scripts/gameday-day.sh [--no-kubernetes]" >&2; exit 2 ;;
  esac
done
started=$(date +%s)
say() { printf '\n== [%4ss] %s\n' "$(($(date +%s) - started))" "$*"; }

say "installing packages (scripts/setup.sh)"
bash scripts/setup.sh
say "building gameday"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target gameday gameday-demo gameday-node-images

# Kubernetes first: the core plan ends with etcd losing its quorum, after which the control
# plane needs a while to settle.
plans=()
if [[ "$kubernetes" == yes ]]; then
  say "Kubernetes binaries (built once from the Go module proxy, then cached; a fresh machine" \
    "needs ~13 minutes here — run with --no-kubernetes meanwhile for the rest of the suite)"
  GAMEDAY_K8S_BIN=$(bash tests/harness/build-k8s.sh --with-nodes | tail -n 1)
  say "kube-router, the real nodes' NetworkPolicy enforcer (built once, then cached)"
  GAMEDAY_KUBE_ROUTER="$(bash tests/harness/build-kube-router.sh | tail -n 1)/kube-router"
  export GAMEDAY_K8S_BIN GAMEDAY_KUBE_ROUTER
  plans+=(experiments/plans/sandbox-kubernetes.yaml experiments/plans/sandbox-real-nodes.yaml)
else
  unset GAMEDAY_K8S_BIN GAMEDAY_KUBE_ROUTER
fi
plans+=(experiments/plans/sandbox-core.yaml)

gameday=build/bin/gameday
say "bringing the sandbox up"
trap 'say "bringing the sandbox down"; "$gameday" sandbox down' EXIT
if [[ "$kubernetes" == yes ]]; then
  "$gameday" sandbox up
else
  "$gameday" sandbox up --no-kubernetes
fi
"$gameday" sandbox status

say "running the suite: ${plans[*]}"
report_dir=gameday-reports/latest
rm -rf "$report_dir"
set +e
"$gameday" run "${plans[@]}" --report-dir "$report_dir"
code=$?
set -e
say "done: exit code $code (0 passed, 1 an objective failed, 2 bad plan, 3 aborted)"
echo "report: file://$(pwd)/$report_dir/report.html"
exit $code
