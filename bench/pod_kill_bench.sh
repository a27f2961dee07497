#!/usr/bin/env bash
# Benchmark: gameday's concurrent pod delete vs `kubectl delete pod <names> --wait=false`, on a
# real control plane (tests/harness/k8s-plane.sh) with 5,000 KWOK pods. Not a timed test.
#
#   bench/pod_kill_bench.sh [BUILD_DIR] [-- extra pod_kill_bench arguments]
#
# BUILD_DIR defaults to ./build; it must hold bin/pod_kill_bench and bin/gameday. kubectl is built
# once into the harness cache (build-k8s.sh --with-kubectl). The plane gets 5 KWOK nodes (2,000
# pods each) and is stopped on every exit path.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
BUILD="${1:-$ROOT/build}"
shift || true
[[ "${1:-}" == "--" ]] && shift
[[ -x "$BUILD/bin/pod_kill_bench" ]] || { echo "no $BUILD/bin/pod_kill_bench (ninja pod_kill_bench)" >&2; exit 2; }

BIN=$("$ROOT/tests/harness/build-k8s.sh" --with-kubectl | tail -n 1)
DIR=$(mktemp -d "${TMPDIR:-/tmp}/gameday-bench-XXXXXX")
cleanup() { "$ROOT/tests/harness/k8s-plane.sh" down "$DIR" || true; rm -rf "$DIR"; }
trap cleanup EXIT
GAMEDAY_K8S_BIN="$BIN" GAMEDAY_PLANE_NODES=5 GAMEDAY_PLANE_OWNER=$$ \
  "$ROOT/tests/harness/k8s-plane.sh" up "$DIR"

GAMEDAY=()
[[ -x "$BUILD/bin/gameday" ]] && GAMEDAY=(--gameday "$BUILD/bin/gameday")
"$BUILD/bin/pod_kill_bench" --kubeconfig "$DIR/kubeconfig" --kubectl "$BIN/kubectl" \
  "${GAMEDAY[@]}" "$@"
