#!/usr/bin/env bash
# Long-run benchmark (issue 12, "How we will know"): one `gameday run` of N http verifiers
# probing a fast local HTTP server every I ms for a given time, with gameday's memory and CPU
# sampled from /proc all along; then the report render is timed and the schedule lateness and
# skipped slots are computed from the samples themselves. Not a timed test; see bench/README.md.
#
#   bench/long_run.sh [--minutes M | --seconds S] [--verifiers 100] [--interval-ms 10]
#                     [--gameday PATH] [--out DIR] [--every 5] [--window-s 60]
#                     [--marks 60,600,1800] [--nice N] [--stall-at S --stall-for S]
#                     [--check | --check-memory]
#
# Defaults: 30 minutes, gameday from the repo's build/bin/gameday, /proc read every 5 s,
# lateness per 60 s window, RSS reported at 1, 10 and 30 min (shorter runs: at 25, 50, 100 %).
# --nice N runs gameday and HAProxy at that niceness (negative needs root).
# --stall-at S --stall-for D stops the server (SIGSTOP) S seconds into the run for D seconds, as
# an outage with hanging connections does: probes pile up to each verifier's in-flight cap, and
# the memory they took must come back once they complete.
#
# The server is Debian's HAProxy (/usr/sbin/haproxy, or $HAPROXY) on 127.0.0.1 on a free port,
# answering every request itself (`http-request return`, no backend). It runs in the foreground
# under this script and is stopped on every exit path, as are gameday and the sampler.
#
# Writes into DIR (default: a new /tmp/gameday-long-run-XXXXXX, kept): plan.yaml, haproxy.cfg,
# gameday.log, report/ (gameday's report dir), process.csv (every --every seconds: RSS, VmHWM,
# CPU of gameday and HAProxy), gameday_rusage.json (gameday's exact peak RSS and CPU time),
# render.json and render.html (`gameday report render`),
# lateness.json (bench/long_run_analyze.py), per_minute.csv and summary.json
# (bench/long_run_summary.py, which also prints the table).
#
# Exit code: 0, or 1 when --check / --check-memory finds a target missed, 2 on a usage or setup
# error (no server, invalid plan).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"

SECONDS_TOTAL=1800
VERIFIERS=100
INTERVAL_MS=10
GAMEDAY="$ROOT/build/bin/gameday"
OUT=""
EVERY=5
WINDOW_S=60
MARKS=""
NICE=0
CHECK=""
STALL_AT=""
STALL_FOR=""
HAPROXY="${HAPROXY:-/usr/sbin/haproxy}"
WARMUP_S=2

usage() { sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
need() { [[ $# -ge 2 && -n "$2" ]] || { echo "$1: missing value" >&2; exit 2; }; }
bad() { echo "$1" >&2; exit 2; }
is_number() { [[ "$1" =~ ^[0-9]+([.][0-9]+)?$ && ! "$1" =~ ^[0.]+$ ]]; }  # and > 0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) need "$@"; is_number "$2" || bad "--minutes: expected a number"
      SECONDS_TOTAL=$(python3 -c "import sys; print(round(float(sys.argv[1]) * 60))" "$2")
      shift 2 ;;
    --seconds) need "$@"; [[ "$2" =~ ^[0-9]+$ ]] || bad "--seconds: expected whole seconds"
      SECONDS_TOTAL="$2"; shift 2 ;;
    --verifiers) need "$@"; [[ "$2" =~ ^[1-9][0-9]*$ ]] || bad "--verifiers: expected a count"
      VERIFIERS="$2"; shift 2 ;;
    --interval-ms) need "$@"; is_number "$2" || bad "--interval-ms: expected a number"
      INTERVAL_MS="$2"; shift 2 ;;
    --gameday) need "$@"; GAMEDAY="$2"; shift 2 ;;
    --out) need "$@"; OUT="$2"; shift 2 ;;
    --every) need "$@"; is_number "$2" || bad "--every: expected seconds"
      EVERY="$2"; shift 2 ;;
    --window-s) need "$@"; is_number "$2" || bad "--window-s: expected seconds"
      WINDOW_S="$2"; shift 2 ;;
    --marks) need "$@"; [[ "$2" =~ ^[0-9]+([.][0-9]+)?(,[0-9]+([.][0-9]+)?)*$ ]] ||
        bad "--marks: expected seconds separated by commas"
      MARKS="$2"; shift 2 ;;
    --nice) need "$@"; [[ "$2" =~ ^-?[0-9]+$ ]] || bad "--nice: expected an integer"
      NICE="$2"; shift 2 ;;
    --stall-at) need "$@"; is_number "$2" || bad "--stall-at: expected seconds"
      STALL_AT="$2"; shift 2 ;;
    --stall-for) need "$@"; is_number "$2" || bad "--stall-for: expected seconds"
      STALL_FOR="$2"; shift 2 ;;
    --check) CHECK="--check"; shift ;;
    --check-memory) CHECK="--check-memory"; shift ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
done

(( SECONDS_TOTAL >= 10 )) || bad "the run must last at least 10 s"
[[ -n "$STALL_AT" && -n "$STALL_FOR" || -z "$STALL_AT$STALL_FOR" ]] ||
  bad "--stall-at and --stall-for go together"
[[ -x "$GAMEDAY" ]] || bad "no gameday at $GAMEDAY (--gameday PATH)"
[[ -x "$HAPROXY" ]] || bad "no HAProxy at $HAPROXY (apt-get install haproxy, or \$HAPROXY)"
GAMEDAY="$(cd "$(dirname "$GAMEDAY")" && pwd)/$(basename "$GAMEDAY")"
if [[ -z "$OUT" ]]; then
  OUT=$(mktemp -d "${TMPDIR:-/tmp}/gameday-long-run-XXXXXX")
else
  mkdir -p "$OUT"
  OUT="$(cd "$OUT" && pwd)"
  # Leftovers of an earlier run would be measured as this one's.
  rm -rf "$OUT/report" "$OUT/journal" "$OUT/render.html"
  rm -f "$OUT"/{process.csv,lateness.json,render.json,summary.json,per_minute.csv,run.json}
  rm -f "$OUT"/{gameday_rusage.json,gameday.pid}
fi
if [[ -z "$MARKS" ]]; then
  if (( SECONDS_TOTAL >= 1800 )); then
    MARKS="60,600,1800"
  else
    MARKS=$(python3 -c "import sys; s = int(sys.argv[1]); print(f'{s / 4:g},{s / 2:g},{s}')" \
      "$SECONDS_TOTAL")
  fi
fi

HAPROXY_PID=""
RUNNER_PID=""
STALLER_PID=""
# Ends what this script started, by pid, on every way out.
stop_pid() {  # pid signal grace_seconds
  local pid="$1" sig="$2" grace="$3"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((grace * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  # gameday first (its runner passes SIGTERM on): it stops its probes and writes what it has;
  # it injects nothing. Should the runner be gone but gameday not, gameday is ended by its pid.
  stop_pid "$RUNNER_PID" TERM 30
  if [[ -n "$RUNNER_PID" && -s "$OUT/gameday.pid" ]]; then
    local pid
    pid=$(cat "$OUT/gameday.pid")
    # Only while that pid still runs this plan (never a process that reused the number).
    if tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" | grep -qF "$OUT/plan.yaml"; then
      stop_pid "$pid" TERM 10
    fi
  fi
  stop_pid "$STALLER_PID" TERM 2
  # A stopped server would hold a signal other than SIGKILL pending: continue it first.
  [[ -n "$HAPROXY_PID" ]] && kill -CONT "$HAPROXY_PID" 2>/dev/null
  stop_pid "$HAPROXY_PID" TERM 5
  RUNNER_PID="" HAPROXY_PID="" STALLER_PID=""
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port_open() {
  python3 - "$1" <<'EOF'
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
except OSError:
    sys.exit(1)
EOF
}

NICE_CMD=()
[[ "$NICE" != 0 ]] && NICE_CMD=(nice -n "$NICE")

# The server: one thread, every request answered by HAProxy itself, at gameday's priority (on a
# loaded machine a starved server would time probes out and measure itself, not gameday).
# Another process may take the free port between the look-up and the bind: then try another.
PORT=""
for attempt in 1 2 3 4 5; do
  candidate=$(free_port)
  cat > "$OUT/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
frontend bench
  bind 127.0.0.1:$candidate
  http-request return status 200 content-type text/plain string ok
EOF
  "${NICE_CMD[@]}" "$HAPROXY" -db -f "$OUT/haproxy.cfg" > "$OUT/haproxy.log" 2>&1 &
  HAPROXY_PID=$!
  for _ in $(seq 1 50); do
    if port_open "$candidate"; then PORT="$candidate"; break; fi
    kill -0 "$HAPROXY_PID" 2>/dev/null || break
    sleep 0.1
  done
  [[ -n "$PORT" ]] && break
  stop_pid "$HAPROXY_PID" TERM 2
  HAPROXY_PID=""
done
[[ -n "$PORT" ]] || { echo "HAProxy did not start; see $OUT/haproxy.log" >&2; exit 2; }

# The plan: one experiment, every verifier on the same server, a warm-up and then a wait for the
# rest of the run (a method without a fault: nothing is injected, the probes just go on). The SLO
# is 0 so that failing probes (a server starved on a loaded machine) never abort the run before
# the method: the bench measures gameday's resources; the health counts are in the summary.
WAIT_S=$((SECONDS_TOTAL - WARMUP_S))
{
  echo "# Written by bench/long_run.sh: $VERIFIERS http verifiers every ${INTERVAL_MS}ms" \
    "for ${SECONDS_TOTAL}s."
  echo "name: long-run"
  echo "defaults:"
  echo "  target: {kind: local}"
  echo "experiments:"
  echo "  - name: steady-probing"
  echo "    description: Probes only; nothing is injected."
  echo "    warmup: ${WARMUP_S}s"
  echo "    verify:"
  for i in $(seq 1 "$VERIFIERS"); do
    printf '      - name: http-%03d\n' "$i"
    echo "        kind: http"
    echo "        interval: ${INTERVAL_MS}ms"
    echo "        slo: {success_ratio: 0}"
    echo "        spec:"
    echo "          url: http://127.0.0.1:$PORT/"
    echo "          timeout: 1s"
  done
  echo "    method:"
  echo "      - wait: ${WAIT_S}s"
} > "$OUT/plan.yaml"
"$GAMEDAY" validate "$OUT/plan.yaml" > "$OUT/validate.log" 2>&1 ||
  { cat "$OUT/validate.log" >&2; exit 2; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "long-run bench: $VERIFIERS verifiers every ${INTERVAL_MS} ms for ${SECONDS_TOTAL} s against" \
  "HAProxy on 127.0.0.1:$PORT; gameday $GAMEDAY; out $OUT (load average $LOAD_BEFORE)"
[[ -z "$STALL_AT" ]] ||
  echo "the server stalls (SIGSTOP) at ${STALL_AT} s for ${STALL_FOR} s; the SLO is 0, so it fails nothing"

STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# The runner starts gameday, samples it from /proc and records its exact peak RSS when it ends.
python3 "$HERE/long_run_monitor.py" run --rusage "$OUT/gameday_rusage.json" \
  --csv "$OUT/process.csv" --every "$EVERY" --extra "haproxy=$HAPROXY_PID" \
  --pid-file "$OUT/gameday.pid" -- \
  "${NICE_CMD[@]}" "$GAMEDAY" run "$OUT/plan.yaml" --report-dir "$OUT/report" --no-history \
  --journal-dir "$OUT/journal" > "$OUT/gameday.log" 2>&1 &
RUNNER_PID=$!
if [[ -n "$STALL_AT" ]]; then
  # Its sleeps are waited for, so that a TERM ends them at once; cleanup continues the server.
  (
    nap=""
    trap 'kill $nap 2>/dev/null; exit 0' TERM
    sleep "$STALL_AT" & nap=$!
    wait $nap
    kill -STOP "$HAPROXY_PID"
    sleep "$STALL_FOR" & nap=$!
    wait $nap
    kill -CONT "$HAPROXY_PID"
  ) &
  STALLER_PID=$!
fi

# Bounded: a run that overstays its length by a minute and a tenth is stopped.
LIMIT=$((SECONDS_TOTAL + 60 + SECONDS_TOTAL / 10))
BEGIN=$(date +%s)
TIMED_OUT=false
while kill -0 "$RUNNER_PID" 2>/dev/null; do
  if (( $(date +%s) - BEGIN > LIMIT )); then
    echo "gameday still runs after ${LIMIT}s: stopping it" >&2
    TIMED_OUT=true
    kill -TERM "$RUNNER_PID" 2>/dev/null || true
    break
  fi
  sleep 1
done
RC=0
wait "$RUNNER_PID" || RC=$?
RUNNER_PID=""
stop_pid "$STALLER_PID" TERM 2
STALLER_PID=""
kill -CONT "$HAPROXY_PID" 2>/dev/null || true
stop_pid "$HAPROXY_PID" TERM 5
HAPROXY_PID=""
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
echo "gameday run exited $RC after $(( $(date +%s) - BEGIN )) s (load average $LOAD_AFTER)"

RESULT="$OUT/report/result.json"
if [[ -f "$RESULT" ]]; then
  python3 "$HERE/long_run_monitor.py" run --rusage "$OUT/render.json" -- \
    "$GAMEDAY" report render "$RESULT" -o "$OUT/render.html" > "$OUT/render.log" 2>&1 || true
  python3 "$HERE/long_run_analyze.py" --result "$RESULT" --gameday "$GAMEDAY" \
    --interval-ms "$INTERVAL_MS" --window-s "$WINDOW_S" --out "$OUT/lateness.json" ||
    echo "the sample analysis failed" >&2
else
  echo "no $RESULT; see $OUT/gameday.log" >&2
fi

python3 - "$OUT/run.json" "$SECONDS_TOTAL" "$VERIFIERS" "$INTERVAL_MS" "$GAMEDAY" "$RC" \
  "$TIMED_OUT" "$NICE" "$STARTED" "$LOAD_BEFORE" "$LOAD_AFTER" <<'EOF'
import json, os, sys
(out, seconds, verifiers, interval, gameday, rc, timed_out, nice, started, before,
 after) = sys.argv[1:]
with open(out, "w", encoding="utf-8") as f:
    json.dump({"seconds": int(seconds), "verifiers": int(verifiers), "interval_ms": float(interval),
               "gameday": gameday, "exit_code": int(rc), "timed_out": timed_out == "true",
               "nice": int(nice), "started": started, "cpus": os.cpu_count(),
               "load_before": before, "load_after": after}, f, indent=1)
EOF
SUMMARY_RC=0
python3 "$HERE/long_run_summary.py" "$OUT" --marks "$MARKS" --every "$EVERY" $CHECK ||
  SUMMARY_RC=$?
echo "details: $OUT/summary.json, $OUT/per_minute.csv"
exit "$SUMMARY_RC"
