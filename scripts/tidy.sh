#!/usr/bin/env bash
# Runs clang-tidy (the repo's .clang-tidy) over every .cc file of gameday's own code in a build
# dir's compile_commands.json, FUZZ_JOBS-style in parallel, and fails when any finding is left.
# Findings in headers are counted once, however many files include them. Prints the count per
# file. tests/ is left out: gtest's macros trip bugprone checks that say nothing about gameday.
# RapidJSON's member iterators compare only non-const to non-const, which clang reads as
# ambiguous under C++20's reversed operators (-Wambiguous-reversed-operator) at every `it !=
# obj.MemberEnd()`: a third-party header's shape, not ours, so that one diagnostic is off.
# Usage: scripts/tidy.sh [BUILD_DIR]   (default build; it must be configured)
# Env: TIDY_JOBS (default nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
jobs=${TIDY_JOBS:-$(nproc)}
root=$PWD
[ -f "$build/compile_commands.json" ] || { echo "tidy: no $build/compile_commands.json" >&2; exit 2; }

mapfile -t files < <(jq -r '.[].file' "$build/compile_commands.json" | sort -u |
  grep -E "^$root/(experiments|clients|injectors|verifiers|watches|reports|sandbox|cli)/.*\.cc$")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s)
printf '%s\n' "${files[@]}" | xargs -P "$jobs" -I{} sh -c \
  'clang-tidy --quiet --extra-arg=-Wno-ambiguous-reversed-operator -p "$1" "$2" >"$3/$(echo "$2" | tr / _).log" 2>/dev/null || true' _ \
  "$build" {} "$out"

# One line per distinct finding: path:line:col: warning/error: text [check].
# Headers are reached through the build dir's include roots (include/<library>/DIR -> DIR, see
# CMakeLists.txt): name them by their path in the repository.
cat "$out"/*.log | grep -E '^/.*:[0-9]+:[0-9]+: (warning|error): ' | sed "s|^$root/||" |
  sed -E 's|^[^:]*/include/gameday[a-z0-9_]*/||' | sort -u \
  >"$out/findings" || true
total=$(wc -l <"$out/findings")
echo "tidy: ${#files[@]} files in $(( $(date +%s) - start )) s, $total finding(s)"
if [ "$total" -gt 0 ]; then
  echo "findings per file:"
  cut -d: -f1 "$out/findings" | sort | uniq -c | sort -rn | sed 's/^/  /'
  echo "findings per check:"
  grep -oE '\[[a-z0-9.,-]+\]$' "$out/findings" | sort | uniq -c | sort -rn | sed 's/^/  /'
  if [ -n "${TIDY_VERBOSE:-}" ]; then cat "$out/findings"; else head -40 "$out/findings"; fi
  exit 1
fi
