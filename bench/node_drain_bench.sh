#!/usr/bin/env bash
# Benchmark: gameday's node-drain vs `kubectl drain --ignore-daemonsets --delete-emptydir-data`,
# on a real control plane (tests/harness/k8s-plane.sh): one KWOK node holding 110 pods of a
# Deployment under a PodDisruptionBudget that allows 10 at a time. Not a timed test.
#
#   bench/node_drain_bench.sh [BUILD_DIR] [-- extra node_drain_bench arguments]
#
# BUILD_DIR defaults to ./build; it must hold bin/node_drain_bench. kubectl is built once into the
# harness cache (build-k8s.sh --with-kubectl). The plane gets 4 KWOK nodes (one to drain, three
# for the replacements) and is stopped on every exit path. Prints one markdown table, and the
# machine's load (uptime) before and after.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
BUILD="${1:-$ROOT/build}"
shift || true
[[ "${1:-}" == "--" ]] && shift
[[ -x "$BUILD/bin/node_drain_bench" ]] || { echo "no $BUILD/bin/node_drain_bench (ninja node_drain_bench)" >&2; exit 2; }

BIN=$("$ROOT/tests/harness/build-k8s.sh" --with-kubectl | tail -n 1)
DIR=$(mktemp -d "${TMPDIR:-/tmp}/gameday-bench-XXXXXX")
cleanup() { "$ROOT/tests/harness/k8s-plane.sh" down "$DIR" || true; rm -rf "$DIR"; }
trap cleanup EXIT
GAMEDAY_K8S_BIN="$BIN" GAMEDAY_PLANE_NODES=4 GAMEDAY_PLANE_OWNER=$$ \
  "$ROOT/tests/harness/k8s-plane.sh" up "$DIR"

echo "load before: $(uptime)"
# The journal-free injector needs no state dir, but keep anything it writes out of ~.
GAMEDAY_STATE_DIR="$DIR/state" "$BUILD/bin/node_drain_bench" --kubeconfig "$DIR/kubeconfig" \
  --kubectl "$BIN/kubectl" "$@"
echo "load after: $(uptime)"
