#!/usr/bin/env bash
# gameday's SSH test bed: N test hosts as network namespaces on a private bridge, each running a
# real sshd (Debian's openssh-server) with its own host key, and optionally a real etcd cluster
# on the first K hosts, every service under runit (one runsvdir per host) so faults can stop and
# start it the way an operator would.
#
#   testbed.sh up NAME N [--etcd K]   create the bed (prints its directory on the last line)
#   testbed.sh down NAME              remove everything of the bed (safe to repeat, after a crash)
#   testbed.sh status NAME            what is running
#   testbed.sh gc                     remove beds whose owner process (GAMEDAY_TESTBED_OWNER) died
#
# NAME: 1-12 of [a-z0-9]. Hosts are namespaces gd-NAME-h1..hN joined by the bridge gd-NAME, with
# addresses 198.18.S.11, .12, ... (RFC 2544 benchmarking range; S derived from NAME, the next free
# one on collision); the bridge has 198.18.S.1, which is how the tool in the root namespace reaches
# them. No namespace has a default route, IPv6 is off on every bed link, and two FORWARD rules in
# the root namespace drop anything that would leave or enter the bridge through another link.
#
# Environment: GAMEDAY_TESTBED_DIR (bed directory; default a new mktemp -d), GAMEDAY_TESTBED_OWNER
# (pid whose death makes the bed garbage for `gc`), SSHD_BIN, ETCD_BIN, GAMEDAY_TESTBED_STATE
# (where beds are recorded; default /run/gameday-testbeds).
set -euo pipefail

SSHD_BIN="${SSHD_BIN:-/usr/sbin/sshd}"
ETCD_BIN="${ETCD_BIN:-/usr/bin/etcd}"
if [[ -z "${GAMEDAY_TESTBED_STATE:-}" ]]; then
  if [[ -w /run ]]; then GAMEDAY_TESTBED_STATE=/run/gameday-testbeds
  else GAMEDAY_TESTBED_STATE="${TMPDIR:-/tmp}/gameday-testbeds"; fi
fi
STATE="$GAMEDAY_TESTBED_STATE"
MARKER=".gameday-testbed"
COMMENT_PREFIX="gameday-testbed"

log() { printf 'testbed: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

check_name() {
  [[ "${1:-}" =~ ^[a-z0-9]{1,12}$ ]] || die "NAME must be 1-12 characters of [a-z0-9], got '${1:-}'"
}

need_root() {
  [[ "$(id -u)" -eq 0 ]] || die "needs root (network namespaces, bridges, iptables)"
}

# Namespaces of bed $1, one per line.
bed_namespaces() {
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^gd-$1-h[0-9]+\$" || true
}

# The bed's subnet number, read from the bridge itself so `down` works without any file.
bed_subnet() {
  ip -4 -o addr show dev "gd-$1" 2>/dev/null |
    sed -n 's#.* 198\.18\.\([0-9]\+\)\.1/24.*#\1#p' | head -1 || true
}

# Kills every process whose network namespace is $1, repeatedly, because a supervisor killed in
# the same pass may have started a child in between.
kill_namespace_processes() {
  local ns="$1" pids i
  for i in $(seq 1 50); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -z "$pids" ]] && return 0
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  log "processes still in $ns after 5s: $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
  return 1
}

# Deletes root-namespace iptables rules tagged with the bed's comment.
delete_root_rules() {
  local name="$1" rule
  local tag="$COMMENT_PREFIX:$name"
  while read -r rule; do
    [[ -z "$rule" ]] && continue
    # "-A FORWARD ..." becomes "-D FORWARD ..."; eval keeps the quoting iptables -S printed.
    eval "iptables -w -D ${rule#-A }" 2>/dev/null || true
  done < <(iptables -w -S FORWARD 2>/dev/null | grep -E -- "^-A .*--comment \"?$tag\"? " || true)
}

cmd_down() {
  local name="$1" ns sub dir="" link ok=0
  check_name "$name"
  need_root
  for ns in $(bed_namespaces "$name"); do
    kill_namespace_processes "$ns" || ok=1
    ip netns del "$ns" 2>/dev/null || true
  done
  sub=$(bed_subnet "$name")
  # A crash between `up` recording the bed and creating its bridge leaves only the record.
  if [[ -z "$sub" && -f "$STATE/$name" ]]; then sub=$(sed -n 's/^subnet=//p' "$STATE/$name"); fi
  ip link del "gd-$name" 2>/dev/null || true
  if [[ -n "$sub" ]]; then
    for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' |
                  grep -E "^gdv-$sub-[0-9]+\$" || true); do
      ip link del "$link" 2>/dev/null || true
    done
  fi
  delete_root_rules "$name"
  # The directory: the one named by the environment, else the one recorded at `up`. It is removed
  # only when it carries this bed's marker, so a wrong variable can never delete anything else.
  if [[ -n "${GAMEDAY_TESTBED_DIR:-}" ]]; then
    dir="$GAMEDAY_TESTBED_DIR"
  elif [[ -f "$STATE/$name" ]]; then
    dir=$(sed -n 's/^dir=//p' "$STATE/$name")
  fi
  if [[ -n "$dir" && -f "$dir/$MARKER" ]] && grep -qx "name=$name" "$dir/$MARKER"; then
    rm -rf -- "$dir"
  fi
  rm -f -- "$STATE/$name"
  if [[ -n "$(bed_namespaces "$name")" ]] || ip link show "gd-$name" >/dev/null 2>&1; then
    log "bed $name not fully removed"
    ok=1
  fi
  return $ok
}

cmd_gc() {
  local f owner name
  need_root
  [[ -d "$STATE" ]] || return 0
  for f in "$STATE"/*; do
    [[ -f "$f" ]] || continue
    name=$(basename "$f")
    owner=$(sed -n 's/^owner=//p' "$f")
    [[ -z "$owner" ]] && continue
    if ! kill -0 "$owner" 2>/dev/null; then
      log "removing bed $name (owner $owner is gone)"
      GAMEDAY_TESTBED_DIR="" cmd_down "$name" || true
    fi
  done
}

# Picks the subnet from NAME, moving on while another bed (or anything else) uses it.
pick_subnet() {
  local name="$1" h s cand try
  h=$(printf '%s' "$name" | cksum | cut -d' ' -f1)
  s=$(( h % 250 + 1 ))
  for try in $(seq 0 249); do
    cand=$(( (s - 1 + try) % 250 + 1 ))
    if ! ip -4 -o addr show 2>/dev/null | grep -q " 198\.18\.$cand\."; then
      if ! ip -o link show 2>/dev/null | grep -q ": gdv-$cand-"; then
        echo "$cand"
        return 0
      fi
    fi
  done
  die "no free 198.18.x.0/24 subnet"
}

wait_tcp() {  # address port seconds
  local i
  for i in $(seq 1 $(( $3 * 10 ))); do
    if timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

write_sshd_config() {  # hostdir address beddir
  cat >"$1/sshd_config" <<EOF
# sshd of one gameday test host; see tests/harness/testbed.sh.
Port 22
ListenAddress $2
HostKey $1/ssh_host_ed25519_key
PidFile $1/sshd.pid
AuthorizedKeysFile $3/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
AllowTcpForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
MaxStartups 200
MaxSessions 64
LogLevel INFO
# A home of this host's own: sessions must not run the machine's root dotfiles (bash sources
# ~/.bashrc for commands that come over SSH).
SetEnv HOME=$1/home
EOF
}

on_failed_up() {
  log "up failed; removing bed $UP_NAME"
  GAMEDAY_TESTBED_DIR="$UP_DIR" cmd_down "$UP_NAME" || true
}

cmd_up() {
  local name="$1" n="$2" etcd_k=0
  shift 2
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --etcd) etcd_k="${2:-}"; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  check_name "$name"
  need_root
  [[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 && "$n" -le 60 ]] || die "N must be 1-60"
  [[ "$etcd_k" =~ ^[0-9]+$ && "$etcd_k" -le "$n" ]] || die "--etcd K must be 0..N"
  [[ -x "$SSHD_BIN" ]] || die "sshd not found at $SSHD_BIN (Debian: openssh-server)"
  command -v runsvdir >/dev/null || die "runsvdir not found (Debian: runit)"
  command -v ssh-keygen >/dev/null || die "ssh-keygen not found (Debian: openssh-client)"
  if [[ "$etcd_k" -gt 0 ]]; then
    [[ -x "$ETCD_BIN" ]] || die "etcd not found at $ETCD_BIN (Debian: etcd-server, or set ETCD_BIN)"
  fi

  mkdir -p "$STATE"
  cmd_gc
  # A bed of the same name left by a crash goes first.
  GAMEDAY_TESTBED_DIR="" cmd_down "$name" >/dev/null 2>&1 || true

  local dir="${GAMEDAY_TESTBED_DIR:-}"
  if [[ -z "$dir" ]]; then dir=$(mktemp -d "${TMPDIR:-/tmp}/gameday-testbed-$name.XXXXXX"); fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  chmod 700 "$dir"
  [[ -z "$(ls -A "$dir")" ]] || die "bed directory $dir is not empty"

  # The subnet is chosen and the bridge claimed under one lock so parallel `up`s never collide.
  local sub
  exec 8>"$STATE/.lock"
  flock 8
  sub=$(pick_subnet "$name")
  printf 'name=%s\nsubnet=%s\n' "$name" "$sub" >"$dir/$MARKER"
  printf 'dir=%s\nowner=%s\nsubnet=%s\n' "$dir" "${GAMEDAY_TESTBED_OWNER:-}" "$sub" >"$STATE/$name"
  # From here on a failure (a failed command under set -e, or die) removes what was made.
  UP_NAME="$name" UP_DIR="$dir"
  trap on_failed_up EXIT
  ip link add "gd-$name" type bridge
  ip addr add "198.18.$sub.1/24" dev "gd-$name"
  flock -u 8
  exec 8>&-

  echo 1 >"/proc/sys/net/ipv6/conf/gd-$name/disable_ipv6"
  ip link set "gd-$name" up
  iptables -w -I FORWARD -i "gd-$name" ! -o "gd-$name" -j DROP \
    -m comment --comment "$COMMENT_PREFIX:$name"
  iptables -w -I FORWARD ! -i "gd-$name" -o "gd-$name" -j DROP \
    -m comment --comment "$COMMENT_PREFIX:$name"

  ssh-keygen -q -t ed25519 -N '' -C "gameday-testbed-$name" -f "$dir/id_ed25519"
  # A second client key protected by a passphrase, to test key_passphrase_env.
  local passphrase
  passphrase=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  printf '%s' "$passphrase" >"$dir/key_passphrase"
  chmod 600 "$dir/key_passphrase"
  ssh-keygen -q -t ed25519 -N "$passphrase" -C "gameday-testbed-$name-pp" -f "$dir/id_ed25519_pp"
  cat "$dir/id_ed25519.pub" "$dir/id_ed25519_pp.pub" >"$dir/authorized_keys"
  : >"$dir/known_hosts"
  [[ -d /run/sshd ]] || { mkdir -p /run/sshd; chmod 755 /run/sshd; }

  local i ns addr hd cluster="" sv
  for i in $(seq 1 "$etcd_k"); do
    cluster+="${cluster:+,}h$i=http://198.18.$sub.$((10 + i)):2380"
  done

  for i in $(seq 1 "$n"); do
    ns="gd-$name-h$i"
    addr="198.18.$sub.$((10 + i))"
    hd="$dir/h$i"
    mkdir -p "$hd/service" "$hd/state" "$hd/home"
    ip netns add "$ns"
    ip link add "gdv-$sub-$i" type veth peer name "gdp-$sub-$i"
    ip link set "gdp-$sub-$i" netns "$ns"
    echo 1 >"/proc/sys/net/ipv6/conf/gdv-$sub-$i/disable_ipv6"
    ip link set "gdv-$sub-$i" master "gd-$name" up
    ip netns exec "$ns" sh -e -c "
      sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
      ip link set lo up
      ip link set gdp-$sub-$i name eth0
      ip addr add $addr/24 dev eth0
      ip link set eth0 up"

    ssh-keygen -q -t ed25519 -N '' -C "h$i" -f "$hd/ssh_host_ed25519_key"
    write_sshd_config "$hd" "$addr" "$dir"
    "$SSHD_BIN" -t -f "$hd/sshd_config" || die "sshd rejects $hd/sshd_config"
    # nsenter, not `ip netns exec`: that would mount the namespace's own sysfs over /sys, hiding
    # the machine's cgroup hierarchies from whatever runs on the host (a real node's freezer
    # cgroup, the kubelet started again into its node's cgroup).
    nsenter --net="/run/netns/$ns" setsid -f "$SSHD_BIN" -D -f "$hd/sshd_config" -E "$hd/sshd.log" \
      </dev/null >/dev/null 2>&1
    printf '%s %s\n' "$addr" "$(cut -d' ' -f1,2 "$hd/ssh_host_ed25519_key.pub")" \
      >>"$dir/known_hosts"

    # Services under runit: a dummy on every host, etcd on the first K.
    sv="$hd/service"
    mkdir -p "$sv/dummy"
    printf '#!/bin/sh\nexec sleep infinity\n' >"$sv/dummy/run"
    chmod +x "$sv/dummy/run"
    if [[ "$i" -le "$etcd_k" ]]; then
      mkdir -p "$sv/etcd" "$hd/etcd-data"
      chmod 700 "$hd/etcd-data"
      # --pre-vote (etcd's default from 3.5 on): a member cut off for a while rejoins without
      # forcing an election with its raised term.
      cat >"$sv/etcd/run" <<EOF
#!/bin/sh
exec >>"$hd/etcd.log" 2>&1
exec "$ETCD_BIN" --name h$i --data-dir "$hd/etcd-data" \\
  --listen-client-urls http://$addr:2379 --advertise-client-urls http://$addr:2379 \\
  --listen-peer-urls http://$addr:2380 --initial-advertise-peer-urls http://$addr:2380 \\
  --initial-cluster $cluster --initial-cluster-state new --initial-cluster-token gd-$name \\
  --heartbeat-interval 100 --election-timeout 1000 --pre-vote --log-level warn
EOF
      chmod +x "$sv/etcd/run"
      # The per-host service script an operator (or an injector) would use.
      cat >"$hd/etcd.sh" <<EOF
#!/bin/sh
# etcd member h$i of bed $name: start | stop | status
case "\$1" in
  start) exec sv -w 15 start "$sv/etcd" ;;
  stop) exec sv -w 15 stop "$sv/etcd" ;;
  status) exec sv status "$sv/etcd" ;;
  *) echo "usage: \$0 start|stop|status" >&2; exit 2 ;;
esac
EOF
      chmod +x "$hd/etcd.sh"
    fi
    nsenter --net="/run/netns/$ns" setsid -f runsvdir -P "$sv" </dev/null >/dev/null 2>&1
  done

  for i in $(seq 1 "$n"); do
    addr="198.18.$sub.$((10 + i))"
    wait_tcp "$addr" 22 15 || die "sshd of h$i ($addr) did not come up; see $dir/h$i/sshd.log"
  done
  # Every runit service supervised and running (runsvdir starts them in the background).
  local t st notrun
  for t in $(seq 1 150); do
    notrun=0
    for i in $(seq 1 "$n"); do
      for sv in "$dir/h$i/service"/*; do
        st=$(sv status "$sv" 2>/dev/null || true)
        [[ "$st" == run:* ]] || notrun=$((notrun + 1))
      done
    done
    [[ "$notrun" -eq 0 ]] && break
    sleep 0.1
  done
  [[ "$notrun" -eq 0 ]] || die "$notrun runit services did not start"

  # The inventory, in the format of clients/inventory/inventory.h.
  {
    echo "# Generated by tests/harness/testbed.sh for bed $name;"
    echo "# removed by 'testbed.sh down $name'."
    echo "defaults:"
    echo "  user: root"
    echo "  port: 22"
    echo "  key_file: id_ed25519"
    echo "  known_hosts: known_hosts"
    echo "  sudo: false"
    echo "hosts:"
    for i in $(seq 1 "$n"); do
      addr="198.18.$sub.$((10 + i))"
      hd="$dir/h$i"
      echo "  - name: h$i"
      echo "    address: $addr"
      if [[ "$i" -le "$etcd_k" ]]; then echo "    groups: [masters, etcd]"
      else echo "    groups: [workers]"; fi
      echo "    vars:"
      echo "      netns: gd-$name-h$i"
      echo "      gameday_state_dir: $hd/state"
      echo "      dummy_service_dir: $hd/service/dummy"
      if [[ "$i" -le "$etcd_k" ]]; then
        echo "      etcd_client_url: http://$addr:2379"
        echo "      etcd_service_dir: $hd/service/etcd"
        echo "      etcd_pid_file: $hd/service/etcd/supervise/pid"
        echo "      service_script: $hd/etcd.sh"
      fi
    done
  } >"$dir/inventory.yaml"

  if [[ "$etcd_k" -gt 0 ]]; then
    local healthy=0 t
    for t in $(seq 1 600); do
      healthy=0
      for i in $(seq 1 "$etcd_k"); do
        addr="198.18.$sub.$((10 + i))"
        if curl -s --max-time 1 "http://$addr:2379/health" 2>/dev/null | grep -q '"health":"true"'
        then healthy=$((healthy + 1)); fi
      done
      [[ "$healthy" -eq "$etcd_k" ]] && break
      sleep 0.1
    done
    [[ "$healthy" -eq "$etcd_k" ]] ||
      die "etcd not healthy ($healthy of $etcd_k); see $dir/h*/etcd.log"
  fi
  trap - EXIT
  log "bed $name up: $n hosts on 198.18.$sub.0/24, etcd on $etcd_k, dir $dir"
  echo "$dir"
}

cmd_status() {
  local name="$1" ns sub dir
  check_name "$name"
  sub=$(bed_subnet "$name")
  dir=""
  [[ -f "$STATE/$name" ]] && dir=$(sed -n 's/^dir=//p' "$STATE/$name")
  if [[ -z "$sub" ]]; then
    echo "bed $name: down"
    return 1
  fi
  echo "bed $name: bridge gd-$name 198.18.$sub.0/24 dir ${dir:-unknown}"
  for ns in $(bed_namespaces "$name"); do
    local i="${ns##*-h}" addr
    addr="198.18.$sub.$((10 + i))"
    local procs ssh etcd="-"
    procs=$(ip netns pids "$ns" 2>/dev/null | wc -l)
    ssh=down
    timeout 1 bash -c "exec 3<>/dev/tcp/$addr/22" 2>/dev/null && ssh=up
    if [[ -n "$dir" && -d "$dir/h$i/service/etcd" ]]; then
      etcd=$(curl -s --max-time 1 "http://$addr:2379/health" 2>/dev/null || echo unreachable)
    fi
    echo "  $ns $addr processes=$procs sshd=$ssh etcd=$etcd"
  done
}

case "${1:-}" in
  up) [[ $# -ge 3 ]] || die "usage: testbed.sh up NAME N [--etcd K]"; shift; cmd_up "$@" ;;
  down) [[ $# -eq 2 ]] || die "usage: testbed.sh down NAME"; cmd_down "$2" ;;
  status) [[ $# -eq 2 ]] || die "usage: testbed.sh status NAME"; cmd_status "$2" ;;
  gc) cmd_gc ;;
  *) die "usage: testbed.sh up NAME N [--etcd K] | down NAME | status NAME | gc" ;;
esac
