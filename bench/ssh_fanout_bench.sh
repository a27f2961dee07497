#!/usr/bin/env bash
# Benchmark (issue 13): stop and start a runit service on 50 SSH test hosts, gameday's
# service-stop injector vs Ansible ad-hoc (`ansible all -m shell -a 'sv stop ...' --forks 50`)
# vs parallel-ssh when it installs; gameday on one host too. Not a timed test. Needs root.
#
#   bench/ssh_fanout_bench.sh [BUILD_DIR] [--hosts 50] [--rounds 3] [--no-peers]
#
# BUILD_DIR defaults to ./build and must hold bin/ssh_fanout_bench (ninja ssh_fanout_bench).
# The hosts are sandbox/cluster/testbed.sh's: network namespaces on a private bridge, addresses in
# 198.18.0.0/15, no route out, each with its own sshd and a runit dummy service. Every tool uses
# the bed's inventory, client key and known_hosts (checked strictly). The peers are installed
# once into a private virtualenv under ~/.cache/gameday (outside the repo). The bed, Ansible's
# ControlPersist masters and the work directory are removed on every exit path.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
BUILD="$ROOT/build"
if [[ $# -gt 0 && "$1" != --* ]]; then BUILD="$1"; shift; fi
HOSTS=50
ROUNDS=3
PEERS=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --hosts) HOSTS="${2:?}"; shift 2 ;;
    --rounds) ROUNDS="${2:?}"; shift 2 ;;
    --no-peers) PEERS=0; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
die() { echo "ssh_fanout_bench: $*" >&2; exit 1; }
[[ "$HOSTS" =~ ^[0-9]+$ && "$HOSTS" -ge 2 && "$HOSTS" -le 60 ]] || die "--hosts must be 2-60"
[[ "$(id -u)" -eq 0 ]] || die "needs root (network namespaces, bridges, iptables)"
[[ -x "$BUILD/bin/ssh_fanout_bench" ]] || die "no $BUILD/bin/ssh_fanout_bench (ninja ssh_fanout_bench)"

# The peers' virtualenv: Ansible 14 needs Python 3.12 or newer; with only an older Python the
# last Ansible for it (12.3.0, for 3.11) is used, and the table says which ran.
# pyenv's shims name versions that may not be active: its interpreters are tried by path too.
PY=""
for p in python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    2>/dev/null; then PY="$p"; break; fi
done
[[ -n "$PY" ]] || die "needs Python 3.11 or newer with venv"
PYV=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then ANSIBLE=14.5.0; else ANSIBLE=12.3.0; fi
PSSH=2.16.0.post1
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/gameday/bench-venv-ssh-py$PYV-ansible$ANSIBLE-pssh${PSSH%%.post*}"
if [[ ! -f "$VENV/.complete" ]]; then
  echo "installing ansible==$ANSIBLE and parallel-ssh==$PSSH into $VENV" >&2
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q "ansible==$ANSIBLE"
  # parallel-ssh is optional: its rows are left out when it does not install.
  "$VENV/bin/pip" install -q "parallel-ssh==$PSSH" || echo "parallel-ssh did not install" >&2
  touch "$VENV/.complete"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gameday-sshbench-XXXXXX")
NAME="sfb$(printf '%05d' $(( $$ % 100000 )))"
BED="$WORK/bed"
mkdir -p "$BED"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Ansible's ControlPersist masters (the runner closes them itself unless it died mid-run).
  local sock
  for sock in "$WORK"/cp-*/*; do
    [[ -S "$sock" ]] && ssh -o ControlPath="$sock" -O exit bench-host >/dev/null 2>&1 || true
  done
  GAMEDAY_TESTBED_DIR="$BED" bash "$ROOT/sandbox/cluster/testbed.sh" down "$NAME" >/dev/null 2>&1 ||
    echo "ssh_fanout_bench: testbed.sh down $NAME failed; run it by hand" >&2
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bringing up $HOSTS test hosts (bed $NAME)" >&2
GAMEDAY_TESTBED_DIR="$BED" GAMEDAY_TESTBED_OWNER=$$ \
  bash "$ROOT/sandbox/cluster/testbed.sh" up "$NAME" "$HOSTS" >"$WORK/up.log" 2>&1 ||
  { cat "$WORK/up.log" >&2; die "testbed.sh up failed"; }

ARGS=(--bed "$BED" --bench "$BUILD/bin/ssh_fanout_bench" --venv "$VENV" --work "$WORK"
  --rounds "$ROUNDS")
[[ "$PEERS" -eq 1 ]] || ARGS+=(--no-peers)
"$VENV/bin/python" "$HERE/ssh_fanout_bench.py" "${ARGS[@]}"
