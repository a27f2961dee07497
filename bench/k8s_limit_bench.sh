#!/usr/bin/env bash
# Benchmark: the Kubernetes client's adaptive concurrency limit vs a fixed one, and Events in the
# background vs one POST per delete, on a real control plane (tests/harness/k8s-plane.sh) with
# 5,000 KWOK pods. Not a timed test.
#
#   bench/k8s_limit_bench.sh [BUILD_DIR] [-- extra k8s_limit_bench arguments]
#
# The plane gets 5 KWOK nodes and is stopped on every exit path.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
BUILD="${1:-$ROOT/build}"
shift || true
[[ "${1:-}" == "--" ]] && shift
[[ -x "$BUILD/bench/k8s_limit_bench" || -x "$BUILD/bin/k8s_limit_bench" ]] ||
  { echo "no k8s_limit_bench in $BUILD (ninja k8s_limit_bench)" >&2; exit 2; }
EXE="$BUILD/bin/k8s_limit_bench"
[[ -x "$EXE" ]] || EXE="$BUILD/bench/k8s_limit_bench"

BIN=$("$ROOT/tests/harness/build-k8s.sh" | tail -n 1)
DIR=$(mktemp -d "${TMPDIR:-/tmp}/gameday-limit-bench-XXXXXX")
cleanup() { "$ROOT/tests/harness/k8s-plane.sh" down "$DIR" || true; rm -rf "$DIR"; }
trap cleanup EXIT
GAMEDAY_K8S_BIN="$BIN" GAMEDAY_PLANE_NODES=5 GAMEDAY_PLANE_OWNER=$$ \
  "$ROOT/tests/harness/k8s-plane.sh" up "$DIR"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$EXE" --kubeconfig "$DIR/kubeconfig" "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
