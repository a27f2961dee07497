#!/usr/bin/env bash
# gameday's HA sandbox: a small highly available system on this machine to break on purpose.
# `gameday sandbox up|status|down` writes this script (embedded in the binary) next to
# testbed.sh and kubernetes.sh into a temporary folder and runs it from there.
#
#   sandbox.sh up       create everything (a second `up` of a healthy sandbox does nothing)
#   sandbox.sh status   what runs where; exit 0 only when every part is healthy
#   sandbox.sh down     remove every process, namespace, rule and file it made (safe to repeat)
#
# Layout (root only: network namespaces and iptables):
#   masters m1..m3  network namespaces on a private bridge (testbed.sh), each with sshd and an
#                   etcd member, and with Kubernetes a kube-apiserver, kube-controller-manager
#                   and kube-scheduler (leader election on), all under runit;
#   workers w1, w2  sshd and two gameday-demo replicas each (demo-a :8080, demo-b :8081), runit;
#                   with Kubernetes and the node binaries, each is also a real Kubernetes node
#                   (real-node.sh in the worker's own network namespace: containerd, runc, the
#                   kubelet, kube-proxy, kube-router's NetworkPolicy firewall when built) running
#                   Deployment demo/app: real gameday-demo containers with probes, Service app
#                   (NodePort 30080 on both nodes) and a PodDisruptionBudget;
#   this host       HAProxy (demo service 127.0.0.1:18380, stats and /metrics :18381,
#                   Kubernetes API :18382), Prometheus :18390 scraping HAProxy and the replicas,
#                   and with Kubernetes KWOK (three simulated nodes), under a runsvdir of its own;
#                   with real nodes, HAProxy also serves Service demo/app on :18384 (both nodes'
#                   NodePorts, as a cloud load balancer would).
# Files for `gameday run`: $DIR/inventory.yaml, $DIR/known_hosts, $DIR/id_ed25519,
# $DIR/kubeconfig (context gameday-sandbox).
#
# Environment: GAMEDAY_SANDBOX_DIR (required), GAMEDAY_DEMO_BIN (required for up),
# GAMEDAY_K8S_BIN (Kubernetes binaries; empty = no Kubernetes), GAMEDAY_SANDBOX_TIMEOUT (seconds
# for up, default 180). Real nodes: GAMEDAY_SANDBOX_DEMO_IMAGE and GAMEDAY_NODE_PAUSE (the OCI
# archives the build writes next to gameday-demo), the node binaries in GAMEDAY_K8S_BIN
# (build-k8s.sh --with-nodes), GAMEDAY_KUBE_ROUTER (optional: a kube-router binary, so
# NetworkPolicies are enforced), GAMEDAY_SANDBOX_GAMEDAY_IMAGE (optional: gameday's own image,
# imported into the nodes too), GAMEDAY_SANDBOX_REAL_NODES=0 to leave the workers plain hosts.
set -Eeuo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NAME=sandbox
DEMO_PORT=18380
STATS_PORT=18381
API_PORT=18382
K8S_KWOK_PORT=18383
APP_PORT=18384
APP_NODE_PORT=30080
PROM_PORT=18390
MARKER=".gameday-sandbox"

log() { printf 'sandbox: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ -n "${GAMEDAY_SANDBOX_DIR:-}" ]] || die "GAMEDAY_SANDBOX_DIR is not set"
DIR="${GAMEDAY_SANDBOX_DIR%/}"
BED="$DIR/bed"
ROOT="$DIR/root"
ROOT_SERVICE_DIR="$ROOT/service"
K8S_BIN="${GAMEDAY_K8S_BIN:-}"

need_root() {
  [[ "$(id -u)" -eq 0 ]] ||
    die "the sandbox needs root (network namespaces, bridges, iptables); run it as root"
}

testbed() { GAMEDAY_TESTBED_DIR="$BED" bash "$HERE/testbed.sh" "$@"; }

# Hosts: index (1-based, as testbed.sh numbers them), inventory name, role.
HOST_NAMES=(m1 m2 m3 w1 w2)
host_dir() { echo "$BED/h$1"; }
host_addr() { echo "198.18.$SUB.$((10 + $1))"; }
WORKERS=(4 5)
# The workers' node names when they are real nodes (inventory names, as Kubernetes sees them).
worker_name() { echo "${HOST_NAMES[$(($1 - 1))]}"; }

# The masters, as kubernetes.sh expects them.
set_masters() {
  local i
  MASTER_ADDRS=() MASTER_DIRS=() MASTER_NETNS=()
  for i in 1 2 3; do
    MASTER_ADDRS+=("$(host_addr "$i")")
    MASTER_DIRS+=("$(host_dir "$i")")
    MASTER_NETNS+=("gd-$NAME-h$i")
  done
  # The bridge's address: where real nodes reach the API (HAProxy binds it too).
  K8S_GATEWAY="198.18.$SUB.1"
}

# ---- real nodes -----------------------------------------------------------------------------

# Why the workers cannot be real nodes ("" when they can).
real_nodes_missing() {
  local b
  [[ "${GAMEDAY_SANDBOX_REAL_NODES:-1}" != 0 ]] || { echo "GAMEDAY_SANDBOX_REAL_NODES=0"; return; }
  for b in kubelet kube-proxy containerd containerd-shim-runc-v2 ctr; do
    [[ -x "$K8S_BIN/$b" ]] || { echo "$K8S_BIN/$b is missing (tests/harness/build-k8s.sh --with-nodes)"; return; }
  done
  [[ -f "${GAMEDAY_SANDBOX_DEMO_IMAGE:-}" ]] ||
    { echo "the demo image is missing (the build writes gameday-demo-image.tar next to gameday-demo)"; return; }
  [[ -f "${GAMEDAY_NODE_PAUSE:-}" ]] ||
    { echo "the pause image is missing (the build writes gameday-pause-image.tar next to gameday-demo)"; return; }
  command -v runc >/dev/null || { echo "runc is not installed (scripts/setup.sh)"; return; }
  [[ -x /usr/lib/cni/bridge ]] || { echo "the CNI plugins are not installed (scripts/setup.sh)"; return; }
  command -v nsenter >/dev/null || { echo "nsenter is not installed"; return; }
}

# real-node.sh's "plane": the sandbox's PKI and API, the workers' namespaces adopted. The scripts
# are copied next to it, so the inventory's kubelet-start command outlives this call.
nodes_prepare() {
  local k8s="$DIR/k8s"
  cp "$HERE/real-node.sh" "$HERE/kubernetes.sh" "$k8s/"
  {
    echo "API_PORT=$API_PORT"
    echo "NODE_SUBNET=$SUB"
    echo "GAMEDAY_K8S_BIN=$K8S_BIN"
    echo "NODE_NETNS_PREFIX=gd-$NAME-h"
  } >"$k8s/plane.env"
}

real_node() { bash "$DIR/k8s/real-node.sh" "$@"; }

nodes_up() {
  local i pids=() rc=0 p
  log "making w1 and w2 real Kubernetes nodes (containerd, kubelet, kube-proxy${GAMEDAY_KUBE_ROUTER:+, kube-router})"
  for i in "${WORKERS[@]}"; do
    GAMEDAY_NODE_IMAGES="$GAMEDAY_SANDBOX_DEMO_IMAGE ${GAMEDAY_SANDBOX_GAMEDAY_IMAGE:-}" \
      GAMEDAY_NODE_TIMEOUT="$(left)" \
      real_node up "$DIR/k8s" "$(worker_name "$i")" "$i" </dev/null >>"$ROOT/logs/nodes.log" 2>&1 &
    pids+=("$!")
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  # Both nodes write to nodes.log at once: enough lines for the failed one's own.
  ((rc == 0)) || { tail -n 50 "$ROOT/logs/nodes.log" >&2; die "a real node did not start"; }
  log "real nodes Ready (+$(($(date +%s) - STARTED))s)"
}

nodes_down() {
  local i
  [[ -f "$DIR/k8s/real-node.sh" ]] || return 0
  for i in "${WORKERS[@]}"; do
    real_node down "$DIR/k8s" "$(worker_name "$i")" || log "real-node.sh down $(worker_name "$i") failed"
  done
}
REPLICAS=(a:8080 b:8081)

# The state file written at the end of a successful up.
state_get() { sed -n "s/^$1=//p" "$DIR/sandbox.env" 2>/dev/null | head -1; }

# Sets the mtime of service folder $1 to a whole second in the past that differs from its
# current one. runsvdir rescans a folder (every 5 s) only when its mtime changed, and treats a
# change within the last second warily; two services added in the same second and back-dated to
# the same second could otherwise stay unseen for good.
touch_service_dir() {
  local before t
  before=$(stat -c %Y "$1")
  t=$(($(date +%s) - 2))
  while ((t == before || t == ${2:-0})); do t=$((t - 1)); done
  touch -d "@$t" "$1"
}

# Writes runit service $2 into service folder $1 with run script body $3: built under a temporary
# name (runsvdir skips dot names) and moved in whole.
add_service() {
  local svdir="$1" name="$2" body="$3" tmp before
  tmp="$svdir/.$name.new"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  printf '#!/bin/sh\n# Written by gameday sandbox up.\n%s\n' "$body" >"$tmp/run"
  chmod +x "$tmp/run"
  before=$(stat -c %Y "$svdir")
  mv "$tmp" "$svdir/$name"
  touch_service_dir "$svdir" "$before"
}

# True when every service of every runsvdir of the sandbox is supervised; nudges the folders of
# those that are not (see touch_service_dir).
all_supervised() {
  local svdir s missing=0 this
  for svdir in "$BED"/h*/service "$ROOT_SERVICE_DIR"; do
    this=0
    for s in "$svdir"/*/; do
      [[ -e "$s/supervise/ok" ]] || this=1
    done
    if ((this)); then
      missing=1
      touch_service_dir "$svdir"
    fi
  done
  return $missing
}

# Seconds left before the start-up deadline.
left() { echo $((DEADLINE - $(date +%s))); }

# Waits (bounded by the deadline) until "$@" succeeds; $1 names what is awaited.
wait_until() {
  local what="$1"; shift
  while ! "$@" >/dev/null 2>&1; do
    (($(left) > 0)) || die "timed out waiting for $what"
    sleep 0.2
  done
  log "$what ready (+$(($(date +%s) - STARTED))s)"
}

port_free() { ! ss -Htln "( sport = :$1 )" 2>/dev/null | grep -q .; }

# ---- HAProxy, Prometheus ------------------------------------------------------------------

write_haproxy_config() {
  local i r w=0
  {
    cat <<EOF
# Written by gameday sandbox up; removed by gameday sandbox down.
global
  maxconn 4096
  # A stop never hangs on lingering client connections.
  hard-stop-after 3s

defaults
  mode http
  timeout connect 200ms
  timeout client 30s
  timeout server 10s
  timeout http-request 5s
  # The whole check (connect + answer) need not fit in the 100 ms interval on a busy machine.
  timeout check 500ms
  # A request that meets a killed replica (refused or reset before any answer) or one warming up
  # (503) goes to another one; GETs are idempotent, so replaying them is safe.
  retries 2
  option redispatch
  retry-on conn-failure empty-response 503

frontend demo
  bind 127.0.0.1:$DEMO_PORT
  default_backend demo

backend demo
  balance roundrobin
  option httpchk GET /healthz
  default-server inter 100ms fastinter 50ms downinter 100ms fall 2 rise 1
EOF
    for i in "${WORKERS[@]}"; do
      w=$((w + 1))
      for r in "${REPLICAS[@]}"; do
        echo "  server w$w-${r%%:*} $(host_addr "$i"):${r##*:} check"
      done
    done
    cat <<EOF

frontend stats
  bind 127.0.0.1:$STATS_PORT
  http-request use-service prometheus-exporter if { path /metrics }
  stats enable
  stats uri /stats
  stats refresh 2s
EOF
    if [[ -n "$K8S_BIN" ]]; then
      echo
      k8s_haproxy_config
    fi
    if [[ "$REAL_NODES" == yes ]]; then
      cat <<EOF

# Service demo/app on the real nodes: their NodePorts, as a cloud load balancer reaches them. The
# Service's externalTrafficPolicy is Local, so a node's NodePort answers only from that node's
# pods and a check that fails says that node cannot serve: a lost node (its pods frozen) is out
# after two checks. A request that meets a hung pod is retried on the other node after 400 ms
# (GETs are idempotent).
frontend app
  bind 127.0.0.1:$APP_PORT
  default_backend app

backend app
  balance roundrobin
  option httpchk GET /healthz
  timeout check 300ms
  timeout server 400ms
  retry-on conn-failure empty-response response-timeout 503
  default-server inter 250ms fastinter 100ms downinter 250ms fall 2 rise 1
EOF
      for i in "${WORKERS[@]}"; do
        echo "  server $(worker_name "$i") $(host_addr "$i"):$APP_NODE_PORT check"
      done
    fi
  } >"$ROOT/haproxy.cfg"
  haproxy -c -q -f "$ROOT/haproxy.cfg" || die "HAProxy rejects $ROOT/haproxy.cfg"
}

write_prometheus_config() {
  local i r w=0 targets=""
  for i in "${WORKERS[@]}"; do
    w=$((w + 1))
    for r in "${REPLICAS[@]}"; do
      targets+="${targets:+, }'$(host_addr "$i"):${r##*:}'"
    done
  done
  cat >"$ROOT/prometheus.yml" <<EOF
# Written by gameday sandbox up; removed by gameday sandbox down.
global:
  scrape_interval: 1s
  scrape_timeout: 800ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: haproxy
    static_configs:
      - targets: ['127.0.0.1:$STATS_PORT']
  - job_name: demo
    static_configs:
      - targets: [$targets]
EOF
}

# ---- up -----------------------------------------------------------------------------------

# True when the sandbox recorded in $DIR is up in the same mode as asked now and healthy.
already_up() {
  [[ -f "$DIR/sandbox.env" ]] || return 1
  [[ "$(state_get kubernetes)" == "$([[ -n "$K8S_BIN" ]] && echo yes || echo no)" ]] || return 1
  [[ "$(state_get real_nodes)" == "$REAL_NODES" ]] || return 1
  cmd_status >/dev/null 2>&1
}

on_failed_up() {
  log "up failed; removing what was made (GAMEDAY_SANDBOX_KEEP=1 keeps $DIR and its logs)"
  [[ -n "${GAMEDAY_SANDBOX_KEEP:-}" ]] && return
  cmd_down >/dev/null 2>&1 || true
}

cmd_up() {
  need_root
  STARTED=$(date +%s)
  DEADLINE=$((STARTED + ${GAMEDAY_SANDBOX_TIMEOUT:-180}))
  local demo="${GAMEDAY_DEMO_BIN:-}" etcd_bin=/usr/bin/etcd tool
  [[ -x "$demo" ]] || die "the demo service binary is missing (GAMEDAY_DEMO_BIN='$demo')"
  for tool in haproxy prometheus runsvdir sv ss curl jq openssl; do
    command -v "$tool" >/dev/null || die "$tool is not installed (scripts/setup.sh installs it)"
  done
  if [[ -n "$K8S_BIN" ]]; then
    # shellcheck source=kubernetes.sh
    source "$HERE/kubernetes.sh"
    k8s_check
    etcd_bin="$K8S_BIN/etcd"
  fi
  REAL_NODES=no
  if [[ -n "$K8S_BIN" ]]; then
    local missing
    missing=$(real_nodes_missing)
    if [[ -z "$missing" ]]; then REAL_NODES=yes; else log "the workers stay plain hosts: $missing"; fi
  fi

  if already_up; then
    log "already up and healthy in $DIR"
    return 0
  fi
  if [[ -e "$DIR/$MARKER" ]]; then
    log "a sandbox in $DIR is not healthy or was made differently; recreating it"
    cmd_down
  fi
  local p
  for p in $DEMO_PORT $STATS_PORT $API_PORT $K8S_KWOK_PORT $APP_PORT $PROM_PORT; do
    port_free "$p" || die "127.0.0.1:$p is in use (another sandbox? 'gameday sandbox down')"
  done

  mkdir -p "$DIR"
  chmod 700 "$DIR"
  echo "gameday sandbox" >"$DIR/$MARKER"
  trap on_failed_up EXIT

  log "creating 5 hosts (network namespaces with sshd; etcd on m1..m3: $etcd_bin)"
  mkdir -p "$BED" "$ROOT_SERVICE_DIR" "$ROOT/logs"
  ETCD_BIN="$etcd_bin" testbed up "$NAME" 5 --etcd 3 >/dev/null
  SUB=$(sed -n 's/^subnet=//p' "$BED/.gameday-testbed")
  [[ -n "$SUB" ]] || die "testbed.sh recorded no subnet"
  log "hosts up on 198.18.$SUB.0/24 (+$(($(date +%s) - STARTED))s)"

  # Demo replicas on the workers.
  local i r w=0 hd
  for i in "${WORKERS[@]}"; do
    w=$((w + 1))
    hd=$(host_dir "$i")
    for r in "${REPLICAS[@]}"; do
      add_service "$hd/service" "demo-${r%%:*}" "cd '$hd' || exit 1
exec >>'$hd/demo-${r%%:*}.log' 2>&1
exec '$demo' --port ${r##*:} --bind $(host_addr "$i") --name w$w-${r%%:*} --warmup-ms 500"
    done
  done

  if [[ -n "$K8S_BIN" ]]; then
    set_masters
    k8s_prepare
  fi

  write_haproxy_config
  write_prometheus_config
  add_service "$ROOT_SERVICE_DIR" haproxy "cd '$ROOT' || exit 1
exec >>'$ROOT/logs/haproxy.log' 2>&1
exec haproxy -W -db -f '$ROOT/haproxy.cfg'"
  add_service "$ROOT_SERVICE_DIR" prometheus "cd '$ROOT' || exit 1
exec >>'$ROOT/logs/prometheus.log' 2>&1
exec prometheus --config.file='$ROOT/prometheus.yml' --storage.tsdb.path='$ROOT/prometheus-data' \\
  --web.listen-address=127.0.0.1:$PROM_PORT --storage.tsdb.retention.time=1d --log.level=warn"
  # Not a job-control shell: the background child is no group leader, so setsid just execs and
  # $! is runsvdir itself, leading its own process group.
  (cd "$ROOT" && exec setsid runsvdir -P "$ROOT_SERVICE_DIR" </dev/null >/dev/null 2>&1) &
  echo "$!" >"$ROOT/runsvdir.pid"

  wait_until "every runit service supervised" all_supervised
  wait_until "the demo service (4 replicas UP behind HAProxy)" demo_healthy
  wait_until "Prometheus (every target scraped)" prometheus_healthy
  if [[ -n "$K8S_BIN" ]]; then k8s_wait_ready "$(left)"; fi
  if [[ "$REAL_NODES" == yes ]]; then
    nodes_prepare
    nodes_up
    k8s_app_up "$(left)" "$APP_NODE_PORT" w1 w2
    wait_until "Service demo/app through HAProxy (both nodes UP)" app_healthy
  fi

  cp "$BED/id_ed25519" "$DIR/id_ed25519"
  cp "$BED/known_hosts" "$DIR/known_hosts"
  write_inventory
  {
    echo "subnet=$SUB"
    echo "kubernetes=$([[ -n "$K8S_BIN" ]] && echo yes || echo no)"
    echo "k8s_bin=$K8S_BIN"
    echo "demo_url=http://127.0.0.1:$DEMO_PORT/"
    echo "stats_url=http://127.0.0.1:$STATS_PORT/stats"
    echo "prometheus_url=http://127.0.0.1:$PROM_PORT"
    [[ -n "$K8S_BIN" ]] && echo "api_url=https://127.0.0.1:$API_PORT"
    echo "real_nodes=$REAL_NODES"
    [[ "$REAL_NODES" == yes ]] && echo "app_url=http://127.0.0.1:$APP_PORT/"
    echo "started=$(date -u +%FT%TZ)"
  } >"$DIR/sandbox.env"
  trap - EXIT
  log "up in $(($(date +%s) - STARTED)) s"
}

write_inventory() {
  local i r hd addr
  {
    echo "# The gameday sandbox's hosts; written by 'gameday sandbox up', removed by 'down'."
    echo "# A plan with target {kind: ssh} and no inventory uses this file."
    echo "defaults:"
    echo "  user: root"
    echo "  key_file: id_ed25519"
    echo "  known_hosts: known_hosts"
    echo "  sudo: false"
    echo "hosts:"
    for i in 1 2 3 4 5; do
      hd=$(host_dir "$i")
      addr=$(host_addr "$i")
      echo "  - name: ${HOST_NAMES[$((i - 1))]}"
      echo "    address: $addr"
      if ((i <= 3)); then echo "    groups: [masters, etcd]"; else echo "    groups: [workers]"; fi
      echo "    vars:"
      echo "      netns: gd-$NAME-h$i"
      echo "      gameday_state_dir: $hd/state"
      if ((i <= 3)); then
        echo "      etcd_client_url: http://$addr:2379"
        echo "      etcd_service_dir: $hd/service/etcd"
        echo "      etcd_pid_file: $hd/service/etcd/supervise/pid"
        if [[ -n "$K8S_BIN" ]]; then k8s_inventory_vars $((i - 1)); fi
      else
        for r in "${REPLICAS[@]}"; do
          echo "      demo_${r%%:*}_service_dir: $hd/service/demo-${r%%:*}"
          echo "      demo_${r%%:*}_url: http://$addr:${r##*:}/"
        done
        if [[ "$REAL_NODES" == yes ]]; then node_inventory_vars "$i"; fi
      fi
    done
  } >"$DIR/inventory.yaml"
}

# What node-failure and container-kill need of a real node's host: which node it is, the
# kubelet's pid file and how to start it again, the node's freezer cgroup of its pods.
node_inventory_vars() {
  local name k8s="$DIR/k8s"
  name=$(worker_name "$1")
  echo "      k8s_node: $name"
  echo "      kubelet_pid_file: $k8s/nodes/$name/run/kubelet.pid"
  echo "      kubelet_start: bash $k8s/real-node.sh kubelet-start $k8s $name"
  # The kubelet's cgroupRoot is /gameday-node-S-I (real-node.sh): v1's freezer, or v2's.
  if [[ -d /sys/fs/cgroup/freezer ]]; then
    echo "      containers_cgroup: /sys/fs/cgroup/freezer/gameday-node-$SUB-$1/kubepods"
  else
    echo "      containers_cgroup: /sys/fs/cgroup/gameday-node-$SUB-$1/kubepods"
  fi
}

# ---- health -------------------------------------------------------------------------------

# HAProxy's view of backend $1 (demo, or app with real nodes): "name status" lines.
backend_servers() {
  curl -sf --max-time 1 "http://127.0.0.1:$STATS_PORT/stats;csv" |
    awk -F, -v b="$1" '$1 == b && $2 != "FRONTEND" && $2 != "BACKEND" {print $2, $18}'
}

# The frontend on port $1 answers and $3 servers of backend $2 are UP.
frontend_healthy() {
  local servers
  curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:$1/" || return 1
  servers=$(backend_servers "$2") || return 1
  [[ "$(grep -c ' UP$' <<<"$servers")" -eq "$3" ]]
}
demo_healthy() { frontend_healthy "$DEMO_PORT" demo 4; }
app_healthy() { frontend_healthy "$APP_PORT" app "${#WORKERS[@]}"; }

prometheus_healthy() {
  local n
  curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:$PROM_PORT/-/ready" || return 1
  n=$(curl -sf --max-time 1 "http://127.0.0.1:$PROM_PORT/api/v1/query?query=sum(up)" |
    jq -r '.data.result[0].value[1] // "0"') || return 1
  [[ "$n" -eq 5 ]]
}

etcd_health() {
  curl -s --max-time 1 "http://$1:2379/health" 2>/dev/null | jq -r '.health // "?"' 2>/dev/null ||
    echo unreachable
}

# ---- status -------------------------------------------------------------------------------

cmd_status() {
  local ok=0 i hd addr s r line
  if [[ ! -f "$DIR/sandbox.env" ]]; then
    echo "sandbox in $DIR: not up"
    return 1
  fi
  SUB=$(state_get subnet)
  K8S_BIN=$(state_get k8s_bin)
  echo "sandbox in $DIR (hosts on 198.18.$SUB.0/24, Kubernetes: $(state_get kubernetes))"
  for i in 1 2 3 4 5; do
    hd=$(host_dir "$i")
    addr=$(host_addr "$i")
    line="  ${HOST_NAMES[$((i - 1))]} $addr"
    if timeout 1 bash -c "exec 3<>/dev/tcp/$addr/22" 2>/dev/null; then
      line+=" sshd=up"
    else
      line+=" sshd=DOWN"; ok=1
    fi
    for s in "$hd"/service/*; do
      [[ -d "$s" && "$(basename "$s")" != dummy ]] || continue
      r=$(sv status "$s" 2>/dev/null | cut -d: -f1 || true)
      line+=" $(basename "$s")=${r:-?}"
      [[ "$r" == run ]] || ok=1
    done
    if ((i <= 3)); then
      r=$(etcd_health "$addr")
      line+=" etcd-health=$r"
      [[ "$r" == true ]] || ok=1
    fi
    echo "$line"
  done
  line="  HAProxy http://127.0.0.1:$DEMO_PORT/:"
  if curl -sf --max-time 1 -o /dev/null "http://127.0.0.1:$DEMO_PORT/"; then
    line+=" answers 200"
  else
    line+=" FAILING"; ok=1
  fi
  line+=" servers: $(backend_servers demo 2>/dev/null | tr '\n' ' ' || true)"
  echo "$line"
  demo_healthy || ok=1
  if prometheus_healthy; then
    echo "  Prometheus http://127.0.0.1:$PROM_PORT: ready, 5 of 5 targets up"
  else
    echo "  Prometheus http://127.0.0.1:$PROM_PORT: NOT ready or targets down"; ok=1
  fi
  if [[ -n "$K8S_BIN" ]]; then
    # shellcheck source=kubernetes.sh
    source "$HERE/kubernetes.sh"
    set_masters
    k8s_status | sed "s/^/  /" || ok=1
    if [[ "$(state_get real_nodes)" == yes ]]; then
      k8s_app_status w1 w2 | sed "s/^/  /" || ok=1
      line="  HAProxy http://127.0.0.1:$APP_PORT/ (Service demo/app):"
      if app_healthy; then line+=" answers 200"; else line+=" FAILING"; ok=1; fi
      echo "$line servers: $(backend_servers app 2>/dev/null | tr '\n' ' ' || true)"
    fi
    echo "  kubeconfig $DIR/kubeconfig (context gameday-sandbox)"
  fi
  echo "  inventory $DIR/inventory.yaml"
  return $ok
}

# ---- down ---------------------------------------------------------------------------------

# Processes whose working directory or command line lies under $DIR (what down leaves none of).
sandbox_pids() {
  local p cwd cmd
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    # This script and whoever runs it are not the sandbox's.
    [[ "$p" == "$$" || "$p" == "$BASHPID" || "$p" == "$PPID" ]] && continue
    cwd=$(readlink "/proc/$p/cwd" 2>/dev/null || true)
    cmd=$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null || true)
    if [[ "$cwd" == "$DIR" || "$cwd" == "$DIR/"* || "$cmd" == *"$DIR/"* ]]; then
      echo "$p"
    fi
  done
}

cmd_down() {
  need_root
  local pid n pids ok=0
  # The real nodes first, while their namespaces exist: processes, cgroups, mounts, routes,
  # sysctls (real-node.sh down; each node's own record says what it made).
  nodes_down
  # The root runsvdir next, so nothing restarts what is stopped after it.
  if [[ -f "$ROOT/runsvdir.pid" ]]; then
    pid=$(cat "$ROOT/runsvdir.pid")
    # HUP: runsvdir sends TERM to every runsv it watches, then exits.
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -HUP "$pid" 2>/dev/null || true
  fi
  if [[ -d "$ROOT_SERVICE_DIR" ]]; then
    sv -w 5 force-stop "$ROOT_SERVICE_DIR"/* >/dev/null 2>&1 || true
    sv exit "$ROOT_SERVICE_DIR"/* >/dev/null 2>&1 || true
  fi
  # The hosts: every process in the namespaces, the namespaces, the bridge and its rules.
  testbed down "$NAME" || ok=1
  # Anything else that still runs from here (a kill -9'd up, a stray runsv).
  for n in $(seq 1 50); do
    pids=$(sandbox_pids)
    [[ -z "$pids" ]] && break
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
  pids=$(sandbox_pids)
  if [[ -n "$pids" ]]; then
    log "processes still running from $DIR: $(echo "$pids" | tr '\n' ' ')"
    ok=1
  fi
  # The folder only when it carries the sandbox's marker, so a wrong variable deletes nothing.
  if [[ -f "$DIR/$MARKER" ]]; then
    rm -rf -- "$DIR"
  elif [[ -d "$DIR" ]]; then
    log "$DIR has no $MARKER; not removing it"
  fi
  return $ok
}

case "${1:-}" in
  up) cmd_up ;;
  status) cmd_status ;;
  down) cmd_down ;;
  *) die "usage: sandbox.sh up|status|down" ;;
esac
