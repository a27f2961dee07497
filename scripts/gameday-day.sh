#!/usr/bin/env bash
# The main job: installs what is needed, builds, brings the local sandbox up, runs the bundled
# game day against it, prints where the HTML report is, and brings the sandbox down again.
# Usage: scripts/gameday-day.sh [PLAN] (default experiments/plans/local-replicas.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
plan=${1:-experiments/plans/local-replicas.yaml}

bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target gameday gameday-demo

gameday=build/bin/gameday
trap '"$gameday" sandbox down' EXIT
"$gameday" sandbox up
set +e
"$gameday" run "$plan" --report-dir gameday-reports/latest
code=$?
set -e
echo "exit code $code (0 passed, 1 an objective failed, 2 bad plan, 3 aborted)"
echo "open: file://$(pwd)/gameday-reports/latest/report.html"
exit $code
