#!/usr/bin/env bash
# A real Kubernetes control plane on 127.0.0.1 for gameday's tests: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok (simulated nodes and pods), built by
# build-k8s.sh. Nothing listens anywhere but loopback; pod IPs are fake and never probed.
#
#   k8s-plane.sh up DIR     start everything, write DIR/kubeconfig*, create the fake nodes
#   k8s-plane.sh down DIR   stop everything (reverse order, SIGTERM then SIGKILL); safe to repeat
#   k8s-plane.sh env DIR    print `export` lines (KUBECONFIG, GAMEDAY_K8S_*) for a running plane
#
# DIR is created if needed and holds everything: pki/ (CA, serving and client certificates,
# service-account keys, a token CSV), logs/, run/ (pid files; each process leads its own process
# group), etcd/ (data), kwok-home/, kubeconfig (admin client certificate), kubeconfig-token (admin
# bearer token), kubeconfig-nobody (a token user with no RBAC rights) and plane.env (ports).
#
# Environment: GAMEDAY_K8S_BIN (binaries; default: build-k8s.sh's cached folder),
# GAMEDAY_PLANE_NODES (fake nodes, default 3), GAMEDAY_PLANE_OWNER (a pid: when it dies, a
# watchdog runs `down DIR`, so a SIGKILLed test binary leaves nothing behind),
# GAMEDAY_PLANE_TIMEOUT (seconds for the whole start-up, default 90),
# GAMEDAY_PLANE_NODE_NET=1 (room for real nodes, see below).
#
# Real nodes (tests/harness/real-node.sh) need the API server outside loopback. Only when
# GAMEDAY_PLANE_NODE_NET=1, `up` also makes a host bridge gdpl-S with 198.18.S.1/24 (S picked
# free, as testbed.sh does), relays 198.18.S.1:API_PORT to the API server with HAProxy (component
# api-relay; the API server itself still listens on 127.0.0.1 only), advertises 198.18.S.1, and
# has the API server reach kubelets by InternalIP with a client certificate (pki/kubelet-client.*),
# verifying them against the plane CA. `down` first takes down every real node of the plane, then
# removes the bridge.
set -Eeuo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
# The HA sandbox's Kubernetes library: PKI, kubeconfigs, component flags and fake nodes are made
# the same way here (it only defines functions).
# shellcheck source=../../sandbox/cluster/kubernetes.sh
source "$HERE/../../sandbox/cluster/kubernetes.sh"
# Start order; `down` walks it backwards.
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok api-relay)

log() { printf 'k8s-plane: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
  sed -n '2,/^set -Eeuo/p' "$SELF" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# ---- helpers ------------------------------------------------------------------------------

# free_port VAR: sets VAR to a TCP port nothing listens on and that this script has not handed
# out yet. It assigns instead of printing because a $(...) subshell would forget TAKEN, and two
# components could then be given the same port. The kernel's ephemeral range is avoided so an
# outgoing connection cannot take the port in the meantime.
declare -A TAKEN=()
free_port() {
  local -n out="$1"
  local p i
  for i in $(seq 1 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 12000 ))
    [[ -n "${TAKEN[$p]:-}" ]] && continue
    if ! ss -Htan "( sport = :$p )" 2>/dev/null | grep -q .; then
      TAKEN[$p]=1
      out=$p
      return 0
    fi
  done
  die "no free TCP port found"
}

# True while pid $1 lives and is still the process we started (its command line names DIR, so
# a recycled pid is never signalled).
ours() {
  local pid="$1"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/"
}

# Starts "$@" as component $1 in its own session and process group, logging to logs/$1.log.
start() {
  local name="$1"; shift
  # Not a job-control shell, so the background child is no group leader and setsid(1) just
  # calls setsid(2) and execs: $! is the component itself, and its pid is its process group.
  setsid "$@" >"$DIR/logs/$name.log" 2>&1 </dev/null &
  echo "$!" >"$DIR/run/$name.pid"
}

# Seconds left before the start-up deadline.
left() { echo $(( DEADLINE - $(date +%s) )); }

# Waits until "$2..." succeeds (component $1 must stay alive meanwhile).
wait_for() {
  local name="$1"; shift
  local pid
  pid=$(cat "$DIR/run/$name.pid" 2>/dev/null || echo "")
  while ! "$@" >/dev/null 2>&1; do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      log "$name exited; last lines of logs/$name.log:"
      tail -n 25 "$DIR/logs/$name.log" >&2 || true
      return 1
    fi
    if (( $(left) <= 0 )); then
      log "timed out waiting for $name; last lines of logs/$name.log:"
      tail -n 25 "$DIR/logs/$name.log" >&2 || true
      return 1
    fi
    sleep 0.2
  done
  log "$name ready (+$(( $(date +%s) - STARTED ))s)"
}

# curl against the API server as admin (client certificate), verifying its certificate.
api() { k8s_admin_curl "$DIR/pki" 10 "$@"; }

write_kubeconfig() { # $1 file, $2 user name, then the user's yaml fields (one per argument)
  local file="$1" user="$2"
  shift 2
  k8s_write_kubeconfig "$file" "https://127.0.0.1:$API_PORT" "$DIR/pki/ca.crt" gameday-test \
    "$user" "$@"
}

# ---- the network for real nodes ----------------------------------------------------------

# Picks S for 198.18.S.0/24: a subnet no interface uses and no bridge of ours names.
pick_node_subnet() {
  local s try cand
  s=$(( $(printf '%s' "$DIR" | cksum | cut -d' ' -f1) % 250 + 1 ))
  for try in $(seq 0 249); do
    cand=$(( (s - 1 + try) % 250 + 1 ))
    ip -4 -o addr show 2>/dev/null | grep -q " 198\.18\.$cand\." && continue
    ip -o link show 2>/dev/null | grep -qE ": (gdpl-$cand|gdv-$cand-)" && continue
    echo "$cand"
    return 0
  done
  die "no free 198.18.x.0/24 subnet for real nodes"
}

node_net_up() {
  command -v ip >/dev/null && command -v haproxy >/dev/null ||
    die "ip and haproxy are required for GAMEDAY_PLANE_NODE_NET=1"
  NODE_SUBNET=$(pick_node_subnet)
  NODE_BRIDGE="gdpl-$NODE_SUBNET"
  NODE_GATEWAY="198.18.$NODE_SUBNET.1"
  ip link add "$NODE_BRIDGE" type bridge || die "cannot create bridge $NODE_BRIDGE"
  echo "$NODE_BRIDGE" >"$DIR/run/bridge"
  ip addr add "$NODE_GATEWAY/24" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
}

node_net_down() {
  local br
  [[ -f "$DIR/run/bridge" ]] || return 0
  br=$(cat "$DIR/run/bridge")
  if [[ "$br" =~ ^gdpl-[0-9]+$ ]] && ip link show "$br" >/dev/null 2>&1; then
    ip link del "$br" || log "deleting bridge $br failed"
  fi
  rm -f "$DIR/run/bridge"
}

# Every real node of the plane goes down before the control plane.
real_nodes_down() {
  local d
  [[ -d "$DIR/nodes" ]] || return 0
  for d in "$DIR"/nodes/*/; do
    [[ -f "$d/node.env" ]] || continue
    "$HERE/real-node.sh" down "$DIR" "$(basename "$d")" ||
      log "real-node.sh down $(basename "$d") failed"
  done
}

# ---- PKI ----------------------------------------------------------------------------------

make_pki() {
  local pki="$DIR/pki" sans=()
  [[ -n "${NODE_GATEWAY:-}" ]] && sans+=("IP:$NODE_GATEWAY")
  k8s_make_pki "$pki" gameday-test "${sans[@]}" || die "making the PKI in $pki failed"
  (
    cd "$pki"
    umask 077
    if [[ -n "${NODE_GATEWAY:-}" ]]; then
      # The API server's client certificate towards kubelets.
      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out kubelet-client.key \
        2>/dev/null &&
        openssl req -new -key kubelet-client.key -out kubelet-client.csr \
          -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" 2>/dev/null &&
        printf 'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' \
          >kubelet-client.ext &&
        openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
          -days 3650 -sha256 -extfile kubelet-client.ext -out kubelet-client.crt 2>/dev/null &&
        rm -f kubelet-client.csr kubelet-client.ext ca.srl || exit 1
    fi
    # Bearer tokens: an admin and "nobody" (authenticated, no RBAC rights at all).
    openssl rand -hex 24 >admin.token
    openssl rand -hex 24 >nobody.token
    {
      printf '%s,gameday-admin-token,uid-gameday-admin,"system:masters"\n' "$(cat admin.token)"
      printf '%s,nobody,uid-nobody\n' "$(cat nobody.token)"
    } >tokens.csv
  )
}

# ---- up -----------------------------------------------------------------------------------

cmd_up() {
  STARTED=$(date +%s)
  DEADLINE=$(( STARTED + ${GAMEDAY_PLANE_TIMEOUT:-90} ))
  local nodes="${GAMEDAY_PLANE_NODES:-3}"
  [[ "$nodes" =~ ^[0-9]+$ ]] || die "GAMEDAY_PLANE_NODES must be a number"

  if [[ -f "$DIR/run/etcd.pid" ]] && ours "$(cat "$DIR/run/etcd.pid")"; then
    die "a plane is already running in $DIR (run 'down' first)"
  fi
  local bin="${GAMEDAY_K8S_BIN:-}"
  if [[ -z "$bin" ]]; then
    bin=$("$HERE/build-k8s.sh" | tail -n 1) || die "build-k8s.sh failed"
  fi
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
    [[ -x "$bin/$b" ]] || die "$bin/$b is missing (GAMEDAY_K8S_BIN or build-k8s.sh)"
  done
  for tool in openssl curl ss setsid; do
    command -v "$tool" >/dev/null || die "$tool is required"
  done

  mkdir -p "$DIR/logs" "$DIR/run" "$DIR/etcd" "$DIR/kwok-home"
  rm -rf "$DIR/etcd"/* "$DIR/run"/*
  NODE_GATEWAY=""
  if [[ "${GAMEDAY_PLANE_NODE_NET:-0}" == 1 ]]; then
    trap 'log "start-up failed; stopping what was started"; cmd_down; exit 1' ERR
    node_net_up
  fi
  make_pki

  local v
  for v in ETCD_PORT ETCD_PEER_PORT API_PORT KCM_PORT SCHED_PORT KWOK_PORT; do free_port "$v"; done
  {
    echo "GAMEDAY_K8S_BIN=$bin"
    echo "ETCD_PORT=$ETCD_PORT"
    echo "API_PORT=$API_PORT"
    echo "KCM_PORT=$KCM_PORT"
    echo "SCHED_PORT=$SCHED_PORT"
    echo "KWOK_PORT=$KWOK_PORT"
    if [[ -n "$NODE_GATEWAY" ]]; then
      echo "NODE_SUBNET=$NODE_SUBNET"
      echo "NODE_BRIDGE=$NODE_BRIDGE"
      echo "NODE_GATEWAY=$NODE_GATEWAY"
    fi
  } >"$DIR/plane.env"

  # Every failure from here on tears down what was started.
  trap 'log "start-up failed; stopping what was started"; cmd_down; exit 1' ERR

  # A watchdog that stops the plane once its owner is gone (a test binary killed with -9).
  if [[ -n "${GAMEDAY_PLANE_OWNER:-}" ]]; then
    local owner="$GAMEDAY_PLANE_OWNER"
    setsid bash -c 'while kill -0 "$1" 2>/dev/null && [[ -f "$2/run/etcd.pid" ]]; do sleep 1; done
                    [[ -f "$2/run/etcd.pid" ]] && exec "$3" down "$2"' \
      k8s-plane-watchdog "$owner" "$DIR" "$SELF" >>"$DIR/logs/watchdog.log" 2>&1 </dev/null &
    echo "$!" >"$DIR/run/watchdog.pid"
  fi

  start etcd "$bin/etcd" --name=gameday-test --data-dir="$DIR/etcd" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="gameday-test=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync=true --quota-backend-bytes=4294967296 --log-level=warn
  wait_for etcd curl -sf --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"

  local pki="$DIR/pki"
  local -a K8S_ARGS
  k8s_apiserver_args "http://127.0.0.1:$ETCD_PORT" 127.0.0.1 "$API_PORT" "$pki" \
    "$DIR/run/apiserver-certs"
  if [[ -n "$NODE_GATEWAY" ]]; then
    K8S_ARGS+=(--advertise-address="$NODE_GATEWAY" --kubelet-preferred-address-types=InternalIP
      --kubelet-client-certificate="$pki/kubelet-client.crt"
      --kubelet-client-key="$pki/kubelet-client.key" --kubelet-certificate-authority="$pki/ca.crt")
  fi
  start kube-apiserver "$bin/kube-apiserver" "${K8S_ARGS[@]}" --token-auth-file="$pki/tokens.csv"
  wait_for kube-apiserver api "https://127.0.0.1:$API_PORT/readyz"
  if [[ -n "$NODE_GATEWAY" ]]; then
    # TCP passthrough: clients still authenticate to the API server with their own certificates.
    cat >"$DIR/api-relay.cfg" <<EOF
global
  maxconn 4000
defaults
  mode tcp
  timeout connect 2s
  timeout client 1h
  timeout server 1h
listen api
  bind $NODE_GATEWAY:$API_PORT
  server api 127.0.0.1:$API_PORT
EOF
    start api-relay haproxy -db -f "$DIR/api-relay.cfg"
    wait_for api-relay api "https://$NODE_GATEWAY:$API_PORT/readyz"
  fi

  write_kubeconfig "$DIR/kubeconfig" gameday-admin \
    "client-certificate: $pki/admin.crt" "client-key: $pki/admin.key"
  write_kubeconfig "$DIR/kubeconfig-token" gameday-admin-token "token: $(cat "$pki/admin.token")"
  write_kubeconfig "$DIR/kubeconfig-nobody" nobody "token: $(cat "$pki/nobody.token")"

  k8s_component_args "$DIR/kubeconfig" 127.0.0.1 "$pki"
  K8S_ARGS+=(--leader-elect=false)
  local common=("${K8S_ARGS[@]}")
  K8S_ARGS+=(--secure-port="$KCM_PORT")
  k8s_kcm_args "$pki"
  start kube-controller-manager "$bin/kube-controller-manager" "${K8S_ARGS[@]}"
  start kube-scheduler "$bin/kube-scheduler" "${common[@]}" --secure-port="$SCHED_PORT"

  local comp_curl=(curl -sf --max-time 2 --cacert "$pki/ca.crt")
  wait_for kube-controller-manager "${comp_curl[@]}" "https://127.0.0.1:$KCM_PORT/healthz"
  wait_for kube-scheduler "${comp_curl[@]}" "https://127.0.0.1:$SCHED_PORT/healthz"

  k8s_kwok_command "$bin/kwok" "$DIR/kwok-home" "$DIR/kubeconfig" "$DIR/kwok.yaml" "$KWOK_PORT"
  start kwok "${K8S_ARGS[@]}"
  wait_for kwok curl -sf --max-time 2 "http://127.0.0.1:$KWOK_PORT/healthz"

  local i
  for i in $(seq 1 "$nodes"); do
    api -o /dev/null -X POST -H 'Content-Type: application/json' \
      "https://127.0.0.1:$API_PORT/api/v1/nodes" --data-binary "$(k8s_node_json "$i")"
  done
  nodes_ready() {
    local n
    n=$(api "https://127.0.0.1:$API_PORT/api/v1/nodes?labelSelector=type%3Dkwok" |
      jq "$(k8s_schedulable_nodes_jq)")
    [[ "$n" -ge "$nodes" ]]
  }
  wait_for "kwok nodes" nodes_ready
  wait_for "default ServiceAccount" api \
    "https://127.0.0.1:$API_PORT/api/v1/namespaces/default/serviceaccounts/default"
  trap - ERR
  log "up in $(( $(date +%s) - STARTED ))s: https://127.0.0.1:$API_PORT ($DIR)"
}

# ---- down ---------------------------------------------------------------------------------

cmd_down() {
  [[ -d "$DIR/run" ]] || return 0
  local i name pid n
  real_nodes_down
  # The watchdog first, so it cannot start a second `down` meanwhile.
  if [[ -f "$DIR/run/watchdog.pid" ]]; then
    pid=$(cat "$DIR/run/watchdog.pid")
    [[ "$pid" =~ ^[0-9]+$ && "$pid" != "$PPID" && "$pid" != "$$" ]] &&
      kill -TERM -- "-$pid" 2>/dev/null || true
    rm -f "$DIR/run/watchdog.pid"
  fi
  for (( i = ${#COMPONENTS[@]} - 1; i >= 0; i-- )); do
    name="${COMPONENTS[$i]}"
    [[ -f "$DIR/run/$name.pid" ]] || continue
    pid=$(cat "$DIR/run/$name.pid")
    if ours "$pid"; then
      kill -CONT -- "-$pid" 2>/dev/null || true  # a test may have stopped it with SIGSTOP
      kill -TERM -- "-$pid" 2>/dev/null || true
      for (( n = 0; n < 100; n++ )); do  # 10 s
        ours "$pid" || break
        sleep 0.1
      done
      if ours "$pid"; then
        log "$name (pid $pid) ignored SIGTERM for 10s; SIGKILL"
        kill -KILL -- "-$pid" 2>/dev/null || true
      fi
    fi
    # Anything left in the group (children of the component).
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$DIR/run/$name.pid"
  done
  node_net_down
}

# ---- env ----------------------------------------------------------------------------------

cmd_env() {
  [[ -f "$DIR/plane.env" ]] || die "no plane in $DIR"
  # shellcheck disable=SC1091
  source "$DIR/plane.env"
  echo "export KUBECONFIG=$DIR/kubeconfig"
  echo "export GAMEDAY_K8S_DIR=$DIR"
  echo "export GAMEDAY_K8S_SERVER=https://127.0.0.1:$API_PORT"
  echo "export GAMEDAY_K8S_BIN=$GAMEDAY_K8S_BIN"
  if [[ -n "${NODE_GATEWAY:-}" ]]; then
    echo "export GAMEDAY_K8S_NODE_SERVER=https://$NODE_GATEWAY:$API_PORT"
  fi
}

# ---- main ---------------------------------------------------------------------------------

[[ $# -eq 2 ]] || usage
case "$2" in
  /*) DIR="$2" ;;
  *) DIR="$PWD/$2" ;;
esac
DIR="${DIR%/}"
case "$1" in
  up) mkdir -p "$DIR"; DIR="$(cd "$DIR" && pwd -P)"; cmd_up ;;
  down) [[ -d "$DIR" ]] && DIR="$(cd "$DIR" && pwd -P)"; cmd_down ;;
  env) cmd_env ;;
  *) usage ;;
esac
