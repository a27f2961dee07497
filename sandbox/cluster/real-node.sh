#!/usr/bin/env bash
# A real Kubernetes node (containerd + runc, kubelet, bridge CNI, kube-proxy in iptables mode) that
# joins a running test plane of tests/harness/k8s-plane.sh started with GAMEDAY_PLANE_NODE_NET=1,
# or the HA sandbox's control plane (sandbox.sh makes its workers w1, w2 real nodes this way).
#
#   real-node.sh up PLANE_DIR NAME INDEX     start node NAME (INDEX 1..15), wait until it is Ready
#   real-node.sh down PLANE_DIR NAME         stop it and remove everything it made; safe to repeat
#   real-node.sh exec PLANE_DIR NAME CMD...  run CMD in the node's network and mount namespaces
#                                            (e.g. ctr -n k8s.io tasks ls)
#   real-node.sh import PLANE_DIR NAME OCI_ARCHIVE...   import images into its containerd
#   real-node.sh kubelet-start PLANE_DIR NAME   start its kubelet again as `up` did, after it was
#                                            stopped (the `start:` of a node-failure test)
#
# Each node lives in its own network namespace (a veth to the plane's bridge gdpl-S; node IP
# 198.18.S.(10+INDEX), the bridge is 198.18.S.1) and its own mount namespace, in which /var/lib and
# /var/log are overlays onto folders of the node and /run is a private tmpfs: /var/lib/kubelet,
# /var/lib/cni, /var/log/pods, /var/log/containers, /run/containerd, /run/netns of one node are
# never the machine's nor another node's. containerd keeps its root in the node folder. Pods get
# 198.19.(240+INDEX).0/24 (inside the plane's cluster CIDR 198.19.128.0/17); the host routes that
# range and the Service range 198.19.0.0/17 to the node, so ClusterIPs answer from this machine.
# Every process of the node runs under the cgroup /gameday-node-S-INDEX (all v1 hierarchies; the
# kubelet's cgroupRoot), which is how `down` finds and kills them all.
#
# PLANE_DIR/plane.env names API_PORT (the API on 127.0.0.1 and on the bridge address 198.18.S.1),
# NODE_SUBNET (S) and GAMEDAY_K8S_BIN; PLANE_DIR/pki holds the CA (ca.crt, ca.key) and an admin
# client certificate (admin.crt, admin.key). With NODE_NETNS_PREFIX=P in plane.env the node adopts
# the existing network namespace P<INDEX> (the sandbox's worker host, whose sshd and services stay
# as they are) instead of making one: the namespace's address must already be the node IP, and
# `down` leaves the namespace and its processes to whoever made it.
#
# A guard in the node's namespace (mangle FORWARD and OUTPUT, IPv4 and IPv6) drops every packet
# to an address outside 198.18.0.0/15 and loopback: nothing a pod or the node does leaves the
# machine. The kubelet changes host-wide sysctls (kernel.panic, vm.overcommit_memory, ...): the
# first node records them in PLANE_DIR/nodes/sysctl.saved and the last node down restores them.
#
# Files: PLANE_DIR/nodes/NAME/{node.env, pki/, logs/, run/, containerd/, kubelet/, ...}.
# Environment: GAMEDAY_K8S_BIN (needs the node binaries: build-k8s.sh --with-nodes),
# GAMEDAY_NODE_IMAGES (OCI archives to import at start, separated by spaces), GAMEDAY_NODE_PAUSE
# (the pause image's OCI archive; default: built once per plane with packaging/oci-image.py),
# GAMEDAY_NODE_TIMEOUT (seconds until Ready, default 120), GAMEDAY_KUBE_ROUTER (a kube-router
# binary from build-kube-router.sh: when set, the node also runs kube-router's firewall controller,
# alone, so that NetworkPolicies are enforced on its pods with iptables and ipsets of the node's
# own namespace).
set -Eeuo pipefail

# Its real folder (tests/harness/real-node.sh is a link here): kubernetes.sh lies next to it, in
# the source tree as in the sandbox's script folder.
HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
# shellcheck source=kubernetes.sh
source "$HERE/kubernetes.sh"

log() { printf 'real-node %s: %s\n' "${NAME:-?}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() {
  sed -n '2,/^set -Eeuo/p' "$SELF" | grep '^#' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# The sysctls a node changes outside its own network namespace (the kubelet's kernel tunables)
# plus the forwarding and bridge-netfilter switches, recorded before the first node and restored.
SYSCTLS=(vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops
  kernel/keys/root_maxkeys kernel/keys/root_maxbytes net/ipv4/ip_forward
  net/ipv6/conf/all/forwarding net/bridge/bridge-nf-call-iptables
  net/bridge/bridge-nf-call-ip6tables)
GUARD_RANGE=198.18.0.0/15
SERVICE_RANGE=198.19.0.0/17
CLUSTER_RANGE=198.19.128.0/17

# ---- names and state ----------------------------------------------------------------------

# Sets the node's names from PLANE_DIR, NAME and INDEX (validated).
node_names() {
  [[ "$NAME" =~ ^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$ ]] || die "bad node name '$NAME'"
  [[ "$INDEX" =~ ^[0-9]+$ ]] && ((INDEX >= 1 && INDEX <= 15)) || die "INDEX must be 1..15"
  [[ "$SUBNET" =~ ^[0-9]+$ ]] && ((SUBNET >= 1 && SUBNET <= 250)) || die "bad subnet '$SUBNET'"
  NODE_DIR="$PLANE/nodes/$NAME"
  NETNS=$(netns_of "$INDEX")
  VETH="gdpn-$SUBNET-$INDEX"
  NODE_IP="198.18.$SUBNET.$((10 + INDEX))"
  GATEWAY="198.18.$SUBNET.1"
  POD_CIDR="198.19.$((240 + INDEX)).0/24"
  POD_GATEWAY="198.19.$((240 + INDEX)).1"
  CGROUP_ROOT="gameday-node-$SUBNET-$INDEX"
}

# The network namespace of the node with index $1: its own, or the adopted one.
netns_of() {
  if [[ -n "${NETNS_PREFIX:-}" ]]; then echo "$NETNS_PREFIX$1"; else echo "gdn-$SUBNET-$1"; fi
}

plane_env() {
  [[ -f "$PLANE/plane.env" ]] || die "no plane in $PLANE"
  NETNS_PREFIX=$(sed -n 's/^NODE_NETNS_PREFIX=\([a-z0-9-]*\)$/\1/p' "$PLANE/plane.env")
  API_PORT=$(sed -n 's/^API_PORT=\([0-9]*\)$/\1/p' "$PLANE/plane.env")
  SUBNET=$(sed -n 's/^NODE_SUBNET=\([0-9]*\)$/\1/p' "$PLANE/plane.env")
  BIN=$(sed -n 's/^GAMEDAY_K8S_BIN=\(.*\)$/\1/p' "$PLANE/plane.env")
  BIN="${GAMEDAY_K8S_BIN:-$BIN}"
  [[ -n "$API_PORT" ]] || die "$PLANE/plane.env has no API_PORT"
  [[ -n "$SUBNET" ]] || die "the plane in $PLANE has no node network (start it with GAMEDAY_PLANE_NODE_NET=1)"
}

# Reads node.env of node NAME (written by up before it changes anything).
node_env() {
  local f="$PLANE/nodes/$NAME/node.env"
  [[ -f "$f" ]] || return 1
  INDEX=$(sed -n 's/^INDEX=\([0-9]*\)$/\1/p' "$f")
  SUBNET=$(sed -n 's/^SUBNET=\([0-9]*\)$/\1/p' "$f")
  NETNS_PREFIX=$(sed -n 's/^NETNS_PREFIX=\([a-z0-9-]*\)$/\1/p' "$f")
  node_names
}

# The v1 (and v2) cgroup mount points, one per line.
cgroup_mounts() { awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts; }

holder_pid() {
  local pid
  pid=$(cat "$NODE_DIR/run/holder.pid" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] && [[ -d "/proc/$pid" ]] && grep -qF "$CGROUP_ROOT" "/proc/$pid/cgroup" 2>/dev/null &&
    echo "$pid"
}

in_node() { # command... : in the node's network and mount namespaces
  local pid
  pid=$(holder_pid) || die "node $NAME is not running"
  nsenter -t "$pid" -m -n -- "$@"
}

api() { k8s_admin_curl "$PLANE/pki" 10 "$@"; }

# ---- PKI ----------------------------------------------------------------------------------

sign() { # name subject extensions
  local pki="$NODE_DIR/pki"
  (
    cd "$pki" || exit 1
    umask 077
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null &&
      openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null &&
      printf '%s\n' "$3" >"$1.ext" &&
      openssl x509 -req -in "$1.csr" -CA "$PLANE/pki/ca.crt" -CAkey "$PLANE/pki/ca.key" \
        -CAcreateserial -CAserial "$pki/ca.srl" -days 3650 -sha256 -extfile "$1.ext" \
        -out "$1.crt" 2>/dev/null &&
      rm -f "$1.csr" "$1.ext"
  ) || die "signing $1 failed"
}

make_node_pki() {
  local client="keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
  mkdir -p "$NODE_DIR/pki"
  chmod 700 "$NODE_DIR/pki"
  sign kubelet "/O=system:nodes/CN=system:node:$NAME" "$client"
  sign kubelet-serving "/CN=$NAME" "keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:$NODE_IP"
  sign kube-proxy "/CN=system:kube-proxy" "$client"
  # kube-router reads pods, namespaces, nodes and NetworkPolicies: a test plane's admin.
  [[ -n "${GAMEDAY_KUBE_ROUTER:-}" ]] && sign kube-router "/O=system:masters/CN=kube-router" "$client"
  k8s_write_kubeconfig "$NODE_DIR/kubelet.kubeconfig" "https://$GATEWAY:$API_PORT" \
    "$PLANE/pki/ca.crt" gameday-test "system:node:$NAME" \
    "client-certificate: $NODE_DIR/pki/kubelet.crt" "client-key: $NODE_DIR/pki/kubelet.key"
  k8s_write_kubeconfig "$NODE_DIR/kube-proxy.kubeconfig" "https://$GATEWAY:$API_PORT" \
    "$PLANE/pki/ca.crt" gameday-test system:kube-proxy \
    "client-certificate: $NODE_DIR/pki/kube-proxy.crt" "client-key: $NODE_DIR/pki/kube-proxy.key"
  if [[ -n "${GAMEDAY_KUBE_ROUTER:-}" ]]; then
    k8s_write_kubeconfig "$NODE_DIR/kube-router.kubeconfig" "https://$GATEWAY:$API_PORT" \
      "$PLANE/pki/ca.crt" gameday-test kube-router \
      "client-certificate: $NODE_DIR/pki/kube-router.crt" "client-key: $NODE_DIR/pki/kube-router.key"
  fi
}

# ---- configuration ------------------------------------------------------------------------

write_configs() {
  local d="$NODE_DIR"
  mkdir -p "$d/cni/net.d" "$d/cni/ipam" "$d/containerd/root" "$d/kubelet" "$d/ovl"
  cat >"$d/containerd.toml" <<EOF
version = 4
root = "$d/containerd/root"
state = "/run/containerd"
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.snapshotter.v1.blockfile"]

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins.'io.containerd.internal.v1.opt']
  path = "$d/containerd/opt"  # default /opt/containerd, outside the node's private folders

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "gameday.local/pause:1"

[plugins.'io.containerd.cri.v1.runtime']
  # This machine's root lacks CAP_SYS_RESOURCE: without it every sandbox fails with
  # "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "$RUNC"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["$CNI_BIN"]
    conf_dir = "$d/cni/net.d"
EOF
  cat >"$d/cni/net.d/10-gameday.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "gameday",
 "plugins": [{"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
              "hairpinMode": true,
              "ipam": {"type": "host-local", "dataDir": "$d/cni/ipam",
                       "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]],
                       "routes": [{"dst": "0.0.0.0/0"}]}}]}
EOF
  : >"$d/resolv.conf"  # no name server: nothing in a pod resolves through the machine
  cat >"$d/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP_ROOT
cgroupsPerQOS: true
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PLANE/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $d/pki/kubelet-serving.crt
tlsPrivateKeyFile: $d/pki/kubelet-serving.key
resolvConf: $d/resolv.conf
clusterDomain: cluster.local
oomScoreAdj: 0
serializeImagePulls: false
nodeStatusUpdateFrequency: 2s
nodeStatusReportFrequency: 10s
nodeLeaseDurationSeconds: 10
syncFrequency: 10s
fileCheckFrequency: 10s
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
failSwapOn: false
EOF
  cat >"$d/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $d/kube-proxy.kubeconfig}
hostnameOverride: $NAME
bindAddress: $NODE_IP
clusterCIDR: $CLUSTER_RANGE
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [primary]
oomScoreAdj: 0
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

# The kubelet's command line, run by `up` (inside the node) and `kubelet-start`: "$@" goes
# before it (setsid, or nsenter into the node's namespaces). Its pid is the pid file's.
start_kubelet() {
  "$@" "$BIN/kubelet" --config="$NODE_DIR/kubelet.yaml" --kubeconfig="$NODE_DIR/kubelet.kubeconfig" \
    --root-dir="$NODE_DIR/kubelet" --cert-dir="$NODE_DIR/pki" --node-ip="$NODE_IP" \
    --hostname-override="$NAME" --node-labels="type=real,gameday.io/real-node=$NAME" --v=2 \
    >>"$NODE_DIR/logs/kubelet.log" 2>&1 </dev/null &
  echo $! >"$NODE_DIR/run/kubelet.pid"
}

# kubelet-start: the kubelet again, exactly as `up` started it (same command line, PATH, cgroup,
# network and mount namespaces), after something stopped it; refuses when it still runs.
cmd_kubelet_start() {
  local pid holder c
  pid=$(cat "$NODE_DIR/run/kubelet.pid" 2>/dev/null || true)
  if [[ "$pid" =~ ^[0-9]+$ ]] && [[ -d "/proc/$pid" ]] && grep -qF "$CGROUP_ROOT" "/proc/$pid/cgroup" 2>/dev/null &&
    ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
    die "the kubelet still runs (pid $pid)"
  fi
  holder=$(holder_pid) || die "node $NAME is not running"
  # Into the node's cgroup first: `down` finds every process of the node there.
  while read -r c; do
    [[ -d "$c/$CGROUP_ROOT/system" ]] && echo $$ >"$c/$CGROUP_ROOT/system/cgroup.procs"
  done < <(cgroup_mounts)
  export PATH="$BIN:$PATH"
  # nsenter execs the kubelet (no pid namespace to enter): $! is the kubelet's pid. A session
  # of its own, as `up` gives it, so it outlives the caller.
  start_kubelet setsid nsenter -t "$holder" -m -n --
  log "kubelet started again (pid $(cat "$NODE_DIR/run/kubelet.pid"))"
}

# ---- inside the node's namespaces (run by `up` through ip netns exec + unshare) -------------

cmd_inside() {
  local c
  # Join the node's cgroup first: every process started from here on is found by `down`.
  while read -r c; do
    [[ -d "$c/$CGROUP_ROOT/system" ]] && echo $$ >"$c/$CGROUP_ROOT/system/cgroup.procs"
  done < <(cgroup_mounts)
  # A private mount tree: a tmpfs over /run, a sysfs of the node's network namespace over /sys
  # (with the machine's cgroup hierarchies moved over), overlays over /var/lib and /var/log.
  # Shared within the namespace, so the kubelet's volume mounts propagate to the containers.
  mount -t tmpfs -o mode=755 tmpfs /run
  mkdir -p /run/.cgroup
  mount --rbind /sys/fs/cgroup /run/.cgroup
  mount -t sysfs sysfs /sys
  mount --rbind /run/.cgroup /sys/fs/cgroup
  umount -R /run/.cgroup
  rmdir /run/.cgroup
  mount --make-rshared /
  # The plane's folder may lie under /var/lib (the sandbox's default state folder is
  # /var/lib/gameday): held by a bind mount before the overlays cover /var/lib and /var/log, the
  # overlays' upper folders taken through it (an overlay's upper folder must not be on an
  # overlay), and put back over its own path after, so every path under it stays the real one.
  local o ovl=/run/.plane/nodes/$NAME/ovl
  # The handle is private: as a peer of / it would receive the bind over $PLANE itself.
  mkdir -p /run/.plane
  mount --bind "$PLANE" /run/.plane
  mount --make-private /run/.plane
  for o in lib log; do
    mkdir -p "$ovl/$o/upper" "$ovl/$o/work"
    mount -t overlay overlay \
      -o "lowerdir=/var/$o,upperdir=$ovl/$o/upper,workdir=$ovl/$o/work" "/var/$o"
  done
  mount --bind /run/.plane "$PLANE"
  # Shared again, so the kubelet's volume mounts under it reach the containers.
  mount --make-rshared "$PLANE"
  umount /run/.plane
  rmdir /run/.plane
  mkdir -p /run/containerd /var/log/pods /var/log/containers
  export PATH="$BIN:$PATH"

  setsid "$BIN/containerd" --config "$NODE_DIR/containerd.toml" >>"$NODE_DIR/logs/containerd.log" 2>&1 </dev/null &
  echo $! >"$NODE_DIR/run/containerd.pid"
  local i
  for i in $(seq 1 100); do
    [[ -S /run/containerd/containerd.sock ]] && "$BIN/ctr" version >/dev/null 2>&1 && break
    sleep 0.1
  done
  "$BIN/ctr" version >/dev/null || { echo "containerd did not start"; exit 1; }
  local img
  for img in "$NODE_DIR/images"/*.tar; do
    [[ -f "$img" ]] || continue
    "$BIN/ctr" -n k8s.io images import "$img" || { echo "import $img failed"; exit 1; }
  done
  echo "images imported"

  start_kubelet setsid
  setsid "$BIN/kube-proxy" --config="$NODE_DIR/kube-proxy.yaml" --v=2 \
    >>"$NODE_DIR/logs/kube-proxy.log" 2>&1 </dev/null &
  echo $! >"$NODE_DIR/run/kube-proxy.pid"
  if [[ -n "${GAMEDAY_KUBE_ROUTER:-}" ]]; then
    # Only the NetworkPolicy controller: routes, Services and the CNI stay the node's own. It
    # exits while the kubelet has not registered the Node yet (and on any error): restarted, as
    # its DaemonSet would be.
    setsid sh -c 'while :; do "$@"; sleep 1; done' kube-router "$GAMEDAY_KUBE_ROUTER" \
      --kubeconfig="$NODE_DIR/kube-router.kubeconfig" \
      --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
      --hostname-override="$NAME" --service-cluster-ip-range="$SERVICE_RANGE" \
      --health-port=0 --metrics-port=0 --v=1 \
      >>"$NODE_DIR/logs/kube-router.log" 2>&1 </dev/null &
    echo $! >"$NODE_DIR/run/kube-router.pid"
  fi
  echo "started"
  # Holds the namespaces until `down` kills the whole cgroup.
  exec sleep infinity
}

# ---- up -----------------------------------------------------------------------------------

save_sysctls() {
  local f="$PLANE/nodes/sysctl.saved" s
  [[ -f "$f" ]] && return 0
  for s in "${SYSCTLS[@]}"; do
    if [[ -r "/proc/sys/$s" ]]; then printf '%s=%s\n' "$s" "$(cat "/proc/sys/$s")"; fi
  done >"$f.new.$$"
  # Nodes started at once: the first record wins (each is taken before its node changes any).
  mv -n "$f.new.$$" "$f"
  rm -f "$f.new.$$"
}

restore_sysctls() {
  local f="$PLANE/nodes/sysctl.saved" line key val
  [[ -f "$f" ]] || return 0
  while IFS= read -r line; do
    key="${line%%=*}"
    val="${line#*=}"
    [[ "$key" =~ ^[a-z0-9_/-]+$ && " ${SYSCTLS[*]} " == *" $key "* && "$val" =~ ^[0-9]+$ ]] ||
      continue
    [[ "$(cat "/proc/sys/$key" 2>/dev/null)" == "$val" ]] && continue
    printf '%s\n' "$val" >"/proc/sys/$key" || log "restoring $key=$val failed"
  done <"$f"
  rm -f "$f"
}

make_cgroups() {
  local c dir parent f
  while read -r c; do
    for dir in "$c/$CGROUP_ROOT" "$c/$CGROUP_ROOT/system"; do
      mkdir -p "$dir"
      parent=$(dirname "$dir")
      # cpuset (v1) takes no task until cpus and mems are set.
      for f in cpuset.cpus cpuset.mems; do
        if [[ -f "$dir/$f" && -z "$(cat "$dir/$f")" ]]; then cat "$parent/$f" >"$dir/$f"; fi
      done
    done
  done < <(cgroup_mounts)
}

guard_rules() { # in the node's netns
  local ipt
  guard_rules_del
  for ipt in iptables ip6tables; do
    ip netns exec "$NETNS" "$ipt" -w -t mangle -N GAMEDAY-GUARD
    if [[ "$ipt" == iptables ]]; then
      ip netns exec "$NETNS" "$ipt" -w -t mangle -A GAMEDAY-GUARD -d "$GUARD_RANGE" -j RETURN
      ip netns exec "$NETNS" "$ipt" -w -t mangle -A GAMEDAY-GUARD -d 127.0.0.0/8 -j RETURN
    else
      ip netns exec "$NETNS" "$ipt" -w -t mangle -A GAMEDAY-GUARD -d ::1/128 -j RETURN
    fi
    ip netns exec "$NETNS" "$ipt" -w -t mangle -A GAMEDAY-GUARD -j DROP
    ip netns exec "$NETNS" "$ipt" -w -t mangle -A FORWARD -j GAMEDAY-GUARD
    ip netns exec "$NETNS" "$ipt" -w -t mangle -A OUTPUT -j GAMEDAY-GUARD
  done
}

# Removes the guard (an adopted namespace outlives the node).
guard_rules_del() {
  local ipt chain
  for ipt in iptables ip6tables; do
    for chain in FORWARD OUTPUT; do
      while ip netns exec "$NETNS" "$ipt" -w -t mangle -D "$chain" -j GAMEDAY-GUARD 2>/dev/null; do :; done
    done
    ip netns exec "$NETNS" "$ipt" -w -t mangle -F GAMEDAY-GUARD 2>/dev/null || true
    ip netns exec "$NETNS" "$ipt" -w -t mangle -X GAMEDAY-GUARD 2>/dev/null || true
  done
}

# Pod routes between this node and every other node of the plane that is up, both ways, over
# the bridge (the host forwards nothing). $1: add or del.
peer_routes() {
  local d peer p_index p_netns p_ip p_cidr
  for d in "$PLANE"/nodes/*/; do
    peer=$(basename "$d")
    [[ "$peer" != "$NAME" && -f "$d/node.env" ]] || continue
    p_index=$(sed -n 's/^INDEX=\([0-9]*\)$/\1/p' "$d/node.env")
    [[ "$p_index" =~ ^[0-9]+$ ]] || continue
    p_netns=$(netns_of "$p_index")
    p_ip="198.18.$SUBNET.$((10 + p_index))"
    p_cidr="198.19.$((240 + p_index)).0/24"
    [[ -e "/run/netns/$p_netns" ]] || continue
    if [[ "$1" == add ]]; then
      ip -n "$NETNS" route replace "$p_cidr" via "$p_ip"
      ip -n "$p_netns" route replace "$POD_CIDR" via "$NODE_IP"
    else
      ip -n "$p_netns" route del "$POD_CIDR" via "$NODE_IP" 2>/dev/null || true
    fi
  done
}

node_ready() {
  api "https://127.0.0.1:$API_PORT/api/v1/nodes/$NAME" 2>/dev/null |
    jq -e 'any(.status.conditions[]?; .type == "Ready" and .status == "True")' >/dev/null
}

cmd_up() {
  local started deadline tool b
  started=$(date +%s.%N)
  [[ "$(id -u)" == 0 ]] || die "real nodes need root"
  plane_env
  node_names
  [[ -n "$BIN" ]] || die "no binaries folder (GAMEDAY_K8S_BIN)"
  for b in kubelet kube-proxy containerd containerd-shim-runc-v2 ctr; do
    [[ -x "$BIN/$b" ]] || die "$BIN/$b is missing (tests/harness/build-k8s.sh --with-nodes)"
  done
  RUNC=$(command -v runc) || die "runc is required (scripts/setup.sh)"
  CNI_BIN=/usr/lib/cni
  [[ -x "$CNI_BIN/bridge" && -x "$CNI_BIN/host-local" ]] ||
    die "the CNI plugins are required in $CNI_BIN (containernetworking-plugins)"
  for tool in ip iptables ip6tables nsenter unshare openssl jq curl python3 gcc; do
    command -v "$tool" >/dev/null || die "$tool is required"
  done
  if [[ -f "$NODE_DIR/node.env" ]]; then die "node $NAME is already up in $PLANE (run down first)"; fi
  if [[ -n "$NETNS_PREFIX" ]]; then
    [[ -e "/run/netns/$NETNS" ]] || die "network namespace $NETNS (to adopt) does not exist"
    ip -n "$NETNS" -4 -o addr show | grep -q " $NODE_IP/" ||
      die "network namespace $NETNS has no address $NODE_IP"
  elif ip netns list | grep -qw "$NETNS"; then
    die "network namespace $NETNS exists already"
  fi

  mkdir -p "$NODE_DIR/logs" "$NODE_DIR/run" "$NODE_DIR/images"
  printf 'INDEX=%s\nSUBNET=%s\nNETNS_PREFIX=%s\n' "$INDEX" "$SUBNET" "$NETNS_PREFIX" >"$NODE_DIR/node.env"
  trap 'log "start failed (logs in $NODE_DIR/logs); cleaning up"; cmd_down; exit 1' ERR
  save_sysctls

  make_node_pki
  write_configs

  # The pause image, given or built once per plane; then the caller's images. Nodes start at
  # once: none may write a file that another one reads (a node once imported a pause.tar that
  # the other node's cp had just truncated), so the built one is renamed into place whole.
  if [[ -n "${GAMEDAY_NODE_PAUSE:-}" ]]; then
    [[ -f "$GAMEDAY_NODE_PAUSE" ]] || die "pause image archive $GAMEDAY_NODE_PAUSE not found"
    cp "$GAMEDAY_NODE_PAUSE" "$NODE_DIR/images/pause.tar"
  else
    if [[ ! -f "$PLANE/nodes/pause.tar" ]]; then
      python3 "$HERE/../../packaging/oci-image.py" pause --name gameday.local/pause:1 \
        --out "$PLANE/nodes/pause.tar.$NAME" >/dev/null
      mv -f "$PLANE/nodes/pause.tar.$NAME" "$PLANE/nodes/pause.tar"
    fi
    cp "$PLANE/nodes/pause.tar" "$NODE_DIR/images/pause.tar"
  fi
  local n=0 img
  for img in ${GAMEDAY_NODE_IMAGES:-}; do
    [[ -f "$img" ]] || die "image archive $img not found"
    n=$((n + 1))
    cp "$img" "$NODE_DIR/images/image-$n.tar"
  done

  # Network: the node's end of the veth is eth0 in its namespace (an adopted one has its own).
  if [[ -z "$NETNS_PREFIX" ]]; then
    ip netns add "$NETNS"
    ip link add "$VETH" type veth peer name eth0 netns "$NETNS"
    ip link set "$VETH" master "gdpl-$SUBNET" up
    ip netns exec "$NETNS" ip link set lo up
    ip netns exec "$NETNS" ip addr add "$NODE_IP/24" dev eth0
    ip netns exec "$NETNS" ip link set eth0 up
    ip netns exec "$NETNS" ip route add default via "$GATEWAY"
  fi
  ip netns exec "$NETNS" sysctl -qw net.ipv4.ip_forward=1
  guard_rules
  ip route replace "$POD_CIDR" via "$NODE_IP"
  # (Nodes started at once race for it: the first one's stays.)
  ip route show "$SERVICE_RANGE" | grep -q . || ip route add "$SERVICE_RANGE" via "$NODE_IP" 2>/dev/null || true
  peer_routes add

  make_cgroups
  # nsenter: the node's netns; unshare: its own mount namespace (`ip netns exec` would mount a
  # sysfs over /sys that hides the cgroup hierarchies).
  setsid nsenter --net="/run/netns/$NETNS" unshare --mount --propagation private -- \
    env NODE_BIN="$BIN" bash "$SELF" _inside "$PLANE" "$NAME" \
    >>"$NODE_DIR/logs/node.log" 2>&1 </dev/null &
  echo $! >"$NODE_DIR/run/holder.pid"

  deadline=$(( $(date +%s) + ${GAMEDAY_NODE_TIMEOUT:-120} ))
  until grep -q '^started$' "$NODE_DIR/logs/node.log" 2>/dev/null; do
    if ! kill -0 "$(cat "$NODE_DIR/run/holder.pid")" 2>/dev/null || (( $(date +%s) >= deadline )); then
      # The node's own log last: its last line says which step failed (and ctr's error above it).
      tail -n 12 "$NODE_DIR/logs/containerd.log" "$NODE_DIR/logs/node.log" >&2 2>/dev/null || true
      false
    fi
    sleep 0.2
  done
  until node_ready; do
    if (( $(date +%s) >= deadline )) || ! kill -0 "$(cat "$NODE_DIR/run/kubelet.pid")" 2>/dev/null; then
      log "not Ready in time; last lines of the kubelet's log:"
      tail -n 30 "$NODE_DIR/logs/kubelet.log" >&2 || true
      false
    fi
    sleep 0.25
  done
  trap - ERR
  log "Ready after $(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s ($NODE_IP, pods $POD_CIDR, netns $NETNS)"
}

# ---- down ---------------------------------------------------------------------------------

# Pids of every process of the node: in its cgroups (any hierarchy) or its own network namespace
# (an adopted namespace's other processes are not the node's).
node_pids() {
  local c ns_inode p
  while read -r c; do
    [[ -d "$c/$CGROUP_ROOT" ]] && find "$c/$CGROUP_ROOT" -name cgroup.procs -exec cat {} + 2>/dev/null
  done < <(cgroup_mounts)
  if [[ -z "$NETNS_PREFIX" && -e "/run/netns/$NETNS" ]]; then
    ns_inode=$(stat -L -c %i "/run/netns/$NETNS" 2>/dev/null || true)
    if [[ -n "$ns_inode" ]]; then
      for p in /proc/[0-9]*; do
        [[ "$(readlink "$p/ns/net" 2>/dev/null)" == "net:[$ns_inode]" ]] && echo "${p#/proc/}"
      done
    fi
  fi
}

cmd_down() {
  local pids i c
  trap - ERR
  set +e
  # Everything dies at once: a stopped cgroup cannot restart what is killed.
  for i in $(seq 1 50); do
    pids=$(node_pids | sort -u | grep -vx "$$")
    [[ -z "$pids" ]] && break
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    sleep 0.1
  done
  [[ -n "$(node_pids)" ]] && log "processes survive: $(node_pids | sort -u | tr '\n' ' ')"
  # Killed processes whose parent died with them are zombies until the machine's init reaps them;
  # they still name the cgroup in /proc/PID/cgroup. Wait for that, so `down` leaves nothing.
  for i in $(seq 1 100); do
    grep -qs "/$CGROUP_ROOT/\|/$CGROUP_ROOT\$" /proc/[0-9]*/cgroup || break
    sleep 0.1
  done
  # cgroups, deepest first (a just-killed process may take a moment to leave).
  while read -r c; do
    [[ -d "$c/$CGROUP_ROOT" ]] || continue
    for i in $(seq 1 30); do
      find "$c/$CGROUP_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null
      [[ -d "$c/$CGROUP_ROOT" ]] || break
      sleep 0.1
    done
    [[ -d "$c/$CGROUP_ROOT" ]] && log "cgroup $c/$CGROUP_ROOT is left"
  done < <(cgroup_mounts)
  peer_routes del
  if [[ -n "$NETNS_PREFIX" ]]; then
    # An adopted namespace stays: what the node put in it goes (kube-proxy's and kube-router's
    # chains and sets stay until the namespace is deleted by its owner, which sandbox.sh does
    # right after).
    if [[ -e "/run/netns/$NETNS" ]]; then
      guard_rules_del
      ip -n "$NETNS" link del cni0 2>/dev/null
      ip -n "$NETNS" route show | awk '/^198\.19\./ {print $1}' |
        while read -r r; do ip -n "$NETNS" route del "$r"; done
    fi
  else
    # The namespace (its veth, iptables chains and sysctls go with it).
    if [[ -e "/run/netns/$NETNS" ]]; then ip netns del "$NETNS" || log "ip netns del $NETNS failed"; fi
    ip link del "$VETH" 2>/dev/null  # normally gone with the namespace already
  fi
  # Host routes through this node; the Service range moves to another node that is up.
  ip route show "$POD_CIDR" | grep -q "via $NODE_IP" && ip route del "$POD_CIDR" via "$NODE_IP"
  if ip route show "$SERVICE_RANGE" | grep -q "via $NODE_IP "; then
    ip route del "$SERVICE_RANGE" via "$NODE_IP"
  fi
  rm -f "$NODE_DIR/node.env" "$NODE_DIR/run/"*.pid
  local other="" d
  for d in "$PLANE"/nodes/*/; do [[ -f "$d/node.env" ]] && other="$d"; done
  if [[ -n "$other" ]]; then
    local o_name="$NAME"
    NAME=$(basename "$other")
    if node_env && ! ip route show "$SERVICE_RANGE" | grep -q .; then
      ip route add "$SERVICE_RANGE" via "$NODE_IP" || true
    fi
    NAME="$o_name"
  else
    restore_sysctls
  fi
  # The Node object, when the plane still answers (not an error otherwise).
  api -o /dev/null -X DELETE "https://127.0.0.1:$API_PORT/api/v1/nodes/$NAME" 2>/dev/null
  return 0
}

# ---- main ---------------------------------------------------------------------------------

[[ $# -ge 3 ]] || usage
ACTION="$1"
PLANE="${2%/}"
[[ "$PLANE" == /* ]] || PLANE="$PWD/$PLANE"
NAME="$3"
case "$ACTION" in
  up)
    [[ $# -eq 4 ]] || usage
    INDEX="$4"
    cmd_up
    ;;
  down)
    [[ $# -eq 3 ]] || usage
    plane_env 2>/dev/null || true
    API_PORT="${API_PORT:-0}"
    node_env || { log "not up"; exit 0; }
    cmd_down
    ;;
  exec)
    plane_env
    node_env || die "node $NAME is not up"
    shift 3
    in_node "$@"
    ;;
  kubelet-start)
    [[ $# -eq 3 ]] || usage
    plane_env
    node_env || die "node $NAME is not up"
    cmd_kubelet_start
    ;;
  import)
    plane_env
    node_env || die "node $NAME is not up"
    shift 3
    for img in "$@"; do
      [[ -f "$img" ]] || die "$img not found"
      in_node "$BIN/ctr" -n k8s.io images import - <"$img" >&2 || die "importing $img failed"
    done
    ;;
  _inside)
    plane_env
    node_env || die "node $NAME has no node.env"
    BIN="${NODE_BIN:-$BIN}"
    cmd_inside
    ;;
  *) usage ;;
esac
