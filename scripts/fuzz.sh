#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) and runs each one for a
# bounded time, two at a time: first on the reproducers kept in tests/fuzz/crashes/NAME/ (they must
# no longer crash), then fuzzing from the seed corpus tests/fuzz/corpus/NAME/. Any crash, leak,
# timeout (-timeout s for one input) or out-of-memory (-rss_limit_mb) fails the run; the input is
# left in BUILD/fuzz-artifacts/. New corpus items stay in BUILD/fuzz-corpus/ (the repo's corpora are
# kept small on purpose). Prints executions, coverage (cov: edges, ft: features) and corpus size
# per target.
# Usage: scripts/fuzz.sh [TARGET...]     (default: every tests/fuzz/*_fuzz.cc)
# Env: FUZZ_SECONDS (per target, default 20), FUZZ_JOBS (default 2), FUZZ_BUILD (default build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-20}
jobs=${FUZZ_JOBS:-2}
build=${FUZZ_BUILD:-build-fuzz}
start=$(date +%s)

launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_COMPILER=clang -DGAMEDAY_FUZZ=ON -DGAMEDAY_TESTS=OFF "${launcher[@]}" >/dev/null
cmake --build "$build" -j "$(nproc)" --target gameday_fuzz_targets

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/*_fuzz.cc; do targets+=("$(basename "$f" .cc)"); done
fi
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"

# run_one NAME: regressions, then the timed run; the log is BUILD/fuzz-logs/NAME.log.
run_one() {
  local name=$1 short=${1%_fuzz}
  local bin=$build/bin/$name log=$build/fuzz-logs/$name.log work=$build/fuzz-corpus/$short
  local common=(-rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -print_final_stats=1
    "-artifact_prefix=$build/fuzz-artifacts/$name-")
  local rc=0 f
  mkdir -p "$work"
  : >"$log"
  # Each reproducer on its own: one that still crashes must not hide the others.
  for f in "tests/fuzz/crashes/$short"/*; do
    [ -f "$f" ] || continue
    if ! "$bin" "${common[@]}" "$f" >"$log.repro" 2>&1; then
      echo "FAIL regression $f: $(grep -m1 -E 'ERROR|SUMMARY' "$log.repro")" >>"$log"
      rc=1
    fi
  done
  rm -f "$log.repro"
  "$bin" "${common[@]}" -max_total_time="$seconds" "$work" "tests/fuzz/corpus/$short" >>"$log" 2>&1 ||
    rc=1
  return $rc
}
export -f run_one
export build seconds
export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$PWD/tests/fuzz/ubsan.supp

status=0
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {} && echo "PASS {}" >"$build/fuzz-logs/{}.rc" || echo "FAIL {}" >"$build/fuzz-logs/{}.rc"' || true

echo
printf '%-20s %-5s %12s %8s %8s %8s\n' target result execs cov ft corpus
fuzz_passed=0
fuzz_failed=0
for name in "${targets[@]}"; do
  log=$build/fuzz-logs/$name.log
  result=$(cut -d' ' -f1 "$build/fuzz-logs/$name.rc" 2>/dev/null || echo FAIL)
  execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$' || true)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  cov=$(grep -oE 'cov: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
  ft=$(grep -oE 'ft: [0-9]+' <<<"$last" | grep -oE '[0-9]+' || true)
  corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' <<<"$last" | cut -d' ' -f2 || true)
  printf '%-20s %-5s %12s %8s %8s %8s\n' "$name" "$result" "${execs:--}" "${cov:--}" "${ft:--}" \
    "${corp:--}"
  if [ "$result" = PASS ]; then
    fuzz_passed=$((fuzz_passed + 1))
  else
    fuzz_failed=$((fuzz_failed + 1))
    status=1
    grep -E 'ERROR: |SUMMARY: |Test unit written|FAIL regression' "$log" | head -8 | sed 's/^/    /'
  fi
done
echo "fuzz: $fuzz_passed passed, $fuzz_failed failed ($(( $(date +%s) - start )) s with the build)"
exit $status
