#!/usr/bin/env bash
# Test gameday_deb: installs gameday's Debian package on a clean Debian 12 root the way a user
# would (`apt install ./gameday_*.deb`, dependencies resolved by apt, from the packages
# tests/harness/build-clean-root.sh downloaded into the root: no network here) and runs a plan with
# the installed binary: a TCP verifier on a listener while the process injector freezes it for a
# second. Everything runs in its own network (loopback only), mount and PID namespaces, so
# nothing outlives the test. Needs root (exit 77 = skipped otherwise).
# Usage: deb_test.sh DEB
set -euo pipefail
deb=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: installing a package into a root needs root"
  exit 77
fi
start=$(date +%s)
root_tar=$(bash "$here/../tests/harness/build-clean-root.sh" "$deb" | tail -1)
tmp=$(mktemp -d /tmp/gameday-deb-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
root="$tmp/root"
mkdir "$root"
tar -C "$root" -xf "$root_tar"
if [ -e "$root/usr/bin/gameday" ]; then
  echo "FAIL: the clean root already has gameday"
  exit 1
fi
cp "$deb" "$root/tmp/gameday.deb"
port=$((20000 + RANDOM % 20000))
cat >"$root/tmp/plan.yaml" <<EOF
name: installed-from-the-deb
target: {kind: local}
warmup: 300ms
stable_for: 200ms
cooldown: 300ms
verify:
  - name: listener
    kind: tcp
    interval: 50ms
    spec: {host: 127.0.0.1, port: $port, timeout: 500ms}
method:
  - inject: process
    name: freeze-listener
    select: {mode: one}
    duration: 1s
    spec:
      match: {name: perl}
      action: freeze
objectives:
  - verifier: listener
    recover_within: 10s
EOF

# In new namespaces: loopback only, our own /proc, and every process killed when this ends.
timeout 300 unshare --net --mount --pid --fork --kill-child bash -euo pipefail -c '
root=$1
port=$2
ip link set lo up
mount -t proc proc "$root/proc"
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
echo "== apt install ./gameday.deb (no network here: only what the root holds)"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q /tmp/gameday.deb
in_root gameday --version
in_root dpkg -s gameday | grep -E "^(Status|Version):"
echo "== validate a bundled plan"
in_root gameday validate /usr/share/gameday/plans/local-replicas.yaml
echo "== run a plan"
in_root perl -MIO::Socket::INET -e "
  my \$s = IO::Socket::INET->new(LocalAddr => q(127.0.0.1), LocalPort => $port, Listen => 128,
                                 ReuseAddr => 1) or die qq(listen: \$!);
  while (my \$c = \$s->accept) { close \$c }" &
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
  sleep 0.1
done
in_root gameday run /tmp/plan.yaml --no-history --report-dir /tmp/reports
test -s "$root/tmp/reports/report.html"
test -s "$root/tmp/reports/result.json"
grep -q "\"status\": *\"passed\"" "$root/tmp/reports/result.json"
' _ "$root" "$port"
echo "PASS: installed on a clean Debian root and ran a plan ($(($(date +%s) - start)) s)"
