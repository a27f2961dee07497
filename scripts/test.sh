#!/usr/bin/env bash
# Installs what is needed, builds (warnings are errors), and runs the whole test suite: the unit
# tier (also under AddressSanitizer + UndefinedBehaviorSanitizer), the integration and browser
# tiers, the ThreadSanitizer tier (engine, probe loop, watches), a clang-format check, clang-tidy
# over gameday's own code (scripts/tidy.sh) and every fuzz target for a bounded time
# (scripts/fuzz.sh).
#
# Two cores must fit all of it in well under an hour, so the work that only needs CPU runs in the
# background at a lower priority while the tests (which mostly wait) run in the foreground: the
# Kubernetes build (nice 10) next to the C++ builds, clang-tidy and the fuzzers (nice 19, idle I/O
# class) next to the test tiers. The tests keep the CPU whenever they want it, so their timing is
# what it would be alone. The ten-minute ground-truth test (GroundTruthTest.OutageAfterTenMinutes...)
# runs in the background too, at nice -5 so that nothing delays its 10 ms probes, from the first
# test tier to the last. Each heading says how many seconds the run has taken so far.
# Usage: scripts/test.sh [extra ctest args]
# Env: GAMEDAY_SKIP="tsan tidy fuzz long" leaves out any of those steps (for a quick local run);
# the ten-minute test also stays out when ctest args are given.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
t0=$(date +%s)
phase() { echo "== [$(($(date +%s) - t0)) s] $*"; }

bash scripts/setup.sh
skip=" ${GAMEDAY_SKIP:-} "
work=$(mktemp -d)
declare -A pid_of=()
# Background jobs lead their own process groups, so a failed run stops each with all its children.
cleanup() {
  local p
  for p in "${pid_of[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
# background NAME NICENESS COMMAND...: starts COMMAND; its output goes to $work/NAME.log. A new
# session is a new scheduler autogroup, and with autogroups on (Debian's default) the kernel
# shares the CPU between autogroups by the *autogroup's* nice value, not the processes': the job
# sets its own autogroup's nice first (in its new session, so nothing else is affected).
background() {
  local name=$1 niceness=$2
  shift 2
  setsid bash -c 'echo "$1" >/proc/self/autogroup 2>/dev/null || true; exec nice -n "$@"' _ \
    "$niceness" "$@" >"$work/$name.log" 2>&1 &
  pid_of[$name]=$!
}
# finish NAME: waits for a background job and prints its output; fails when the job failed.
finish() {
  local rc=0
  wait "${pid_of[$1]}" || rc=$?
  unset "pid_of[$1]"
  cat "$work/$1.log"
  return $rc
}

# The Kubernetes binaries for the integration tier (control plane, and kubelet, kube-proxy and
# containerd for the real-node tests): built from the Go module proxy once, then cached outside
# the repo (keyed by version). Its last line is the folder of the binaries.
background build-k8s 10 bash tests/harness/build-k8s.sh --with-nodes
# helm, for the chart's test (gameday_deploy), likewise; both take the cache's lock, so the two Go
# builds run one after the other.
background build-helm 10 bash tests/harness/build-helm.sh
# kube-router, the NetworkPolicy enforcer of the real-node tests, likewise.
background build-kube-router 10 bash tests/harness/build-kube-router.sh

launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
phase "build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGAMEDAY_WERROR=ON "${launcher[@]}" \
  >/dev/null
cmake --build build -j "$jobs"
# gameday's Debian package, and the clean Debian root its test installs it in (cached; built from
# the Debian mirror when missing, meanwhile).
cmake --build build --target package >/dev/null
background clean-root 10 bash tests/harness/build-clean-root.sh build/gameday_*.deb
if [[ $skip != *" tidy "* ]]; then background tidy 19 ionice -c 3 bash scripts/tidy.sh build; fi
if [[ $skip != *" fuzz "* ]]; then background fuzz 19 ionice -c 3 bash scripts/fuzz.sh; fi
phase "build (AddressSanitizer + UndefinedBehaviorSanitizer)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGAMEDAY_SANITIZE=ON \
  -DGAMEDAY_WERROR=ON "${launcher[@]}" >/dev/null
cmake --build build-asan -j "$jobs" --target gameday_unit_tests
if [[ $skip != *" tsan "* ]]; then
  phase "build (ThreadSanitizer)"
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGAMEDAY_TSAN=ON \
    -DGAMEDAY_WERROR=ON "${launcher[@]}" >/dev/null
  cmake --build build-tsan -j "$jobs" --target gameday_tsan_tests
fi

long_test=GroundTruthTest.OutageAfterTenMinutesOfSamplingIsMeasuredJustAsPrecisely
if [[ $skip != *" long "* && $# -eq 0 ]]; then
  background long-test -5 env GAMEDAY_STATE_DIR="$PWD/build/test-state" timeout 900 \
    build/bin/integration_ground_truth_test --gtest_filter="$long_test"
fi

status=0
passed=0
failed=0
# tier NAME BUILD_DIR [VAR=value...] [-- ctest args]: runs one labelled tier (the label is NAME's
# first word) and adds its counts to the totals.
tier() {
  local name=$1 dir=$2
  shift 2
  local envs=() extra=()
  while (($#)); do
    if [[ $1 == -- ]]; then
      shift
      extra=("$@")
      break
    fi
    envs+=("$1")
    shift
  done
  phase "$name"
  local log
  log=$(mktemp -p "$work")
  if ! env "${envs[@]}" ctest --test-dir "$dir" -L "${name%% *}" --output-on-failure "${extra[@]}" \
      "${ctest_args[@]}" 2>&1 | tee "$log"; then
    status=1
  fi
  grep -q "tests passed" "$log" || { [ "$name" = browser ] && grep -q "No tests were found" "$log"; } \
    || status=1
  local line total bad
  line=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$log" | tail -1 || true)
  if [ -n "$line" ]; then
    bad=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
    passed=$((passed + total - bad))
    failed=$((failed + bad))
    [ "$bad" -eq 0 ] || status=1
  fi
}
# count NAME OK: one pass or one fail in the totals.
count() {
  if [ "$2" = 0 ]; then
    passed=$((passed + 1))
  else
    echo "$1: FAILED"
    failed=$((failed + 1))
    status=1
  fi
}
ctest_args=("$@")
tier unit build
tier "unit (AddressSanitizer + UndefinedBehaviorSanitizer)" build-asan \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

phase "Kubernetes binaries"
finish build-k8s
GAMEDAY_K8S_BIN=$(tail -1 "$work/build-k8s.log")
export GAMEDAY_K8S_BIN
finish clean-root
# A helm that cannot be built makes gameday_deploy skip (and say so), not the run fail here.
if finish build-helm; then
  GAMEDAY_HELM="$(tail -1 "$work/build-helm.log")/helm"
  export GAMEDAY_HELM
else
  echo "helm could not be built: the test gameday_deploy will be skipped"
fi
finish build-kube-router
# The sandbox's real nodes enforce NetworkPolicies with it (sandbox_suite_test only: exported
# as GAMEDAY_KUBE_ROUTER it would turn on enforcement in every test plane's nodes too).
GAMEDAY_SANDBOX_KUBE_ROUTER="$(tail -1 "$work/build-kube-router.log")/kube-router"
export GAMEDAY_SANDBOX_KUBE_ROUTER
tier integration build -- -E "^$long_test\$"
tier browser build
if [[ $skip != *" tsan "* ]]; then
  tier "tsan (ThreadSanitizer)" build-tsan TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
fi
phase clang-format
# Every tracked C++ file as the repo's .clang-format would write it.
rc=0
git ls-files "*.cc" "*.h" | xargs clang-format --dry-run --Werror || rc=$?
count clang-format $rc
for job in long-test tidy fuzz; do
  [ -n "${pid_of[$job]:-}" ] || continue
  phase "$job (ran in the background)"
  rc=0
  finish "$job" || rc=$?
  count "$job" $rc
done
echo
phase "done"
echo "$passed passed, $failed failed"
exit $status
