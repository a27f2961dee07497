#!/usr/bin/env bash
# Installs what is needed, builds (warnings are errors), and runs the whole test suite: the unit
# tier (also under AddressSanitizer + UndefinedBehaviorSanitizer), the integration and browser
# tiers, the ThreadSanitizer tier (engine, probe loop, watches), a clang-format check, clang-tidy
# over gameday's own code (scripts/tidy.sh) and every fuzz target for a bounded time
# (scripts/fuzz.sh).
# Usage: scripts/test.sh [extra ctest args]
# Env: GAMEDAY_SKIP="tsan tidy fuzz" leaves out any of those three steps (for a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

bash scripts/setup.sh
# The Kubernetes binaries for the integration tier (control plane, and kubelet, kube-proxy and
# containerd for the real-node test): built from the Go module proxy
# once, then cached outside the repo (keyed by version).
GAMEDAY_K8S_BIN=$(bash tests/harness/build-k8s.sh --with-nodes | tail -1)
export GAMEDAY_K8S_BIN

skip=" ${GAMEDAY_SKIP:-} "
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGAMEDAY_WERROR=ON "${launcher[@]}" \
  >/dev/null
cmake --build build -j "$jobs"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGAMEDAY_SANITIZE=ON \
  -DGAMEDAY_WERROR=ON "${launcher[@]}" >/dev/null
cmake --build build-asan -j "$jobs" --target gameday_unit_tests
if [[ $skip != *" tsan "* ]]; then
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGAMEDAY_TSAN=ON \
    -DGAMEDAY_WERROR=ON "${launcher[@]}" >/dev/null
  cmake --build build-tsan -j "$jobs" --target gameday_tsan_tests
fi

status=0
passed=0
failed=0
# tier NAME BUILD_DIR [env...]: runs one labelled tier and adds its counts to the totals.
tier() {
  local name=$1 dir=$2
  shift 2
  echo "== $name"
  local log
  log=$(mktemp)
  if ! env "$@" ctest --test-dir "$dir" -L "${name%% *}" --output-on-failure "${ctest_args[@]}" \
      2>&1 | tee "$log"; then
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
  rm -f "$log"
}
ctest_args=("$@")
tier unit build
tier "unit (AddressSanitizer + UndefinedBehaviorSanitizer)" build-asan \
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
tier integration build
tier browser build
if [[ $skip != *" tsan "* ]]; then
  tier "tsan (ThreadSanitizer)" build-tsan TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
fi
# step NAME COMMAND...: a check that is one pass or one fail in the totals.
step() {
  local name=$1
  shift
  echo "== $name"
  if "$@"; then
    passed=$((passed + 1))
  else
    echo "$name: FAILED"
    failed=$((failed + 1))
    status=1
  fi
}
# Every tracked C++ file as the repo's .clang-format would write it.
step clang-format sh -c 'git ls-files "*.cc" "*.h" | xargs clang-format --dry-run --Werror'
if [[ $skip != *" tidy "* ]]; then step clang-tidy bash scripts/tidy.sh build; fi
if [[ $skip != *" fuzz "* ]]; then step fuzz bash scripts/fuzz.sh; fi
echo
echo "$passed passed, $failed failed"
exit $status
