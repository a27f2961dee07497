# shellcheck shell=bash
# The Kubernetes part of gameday's HA sandbox, sourced by sandbox.sh: a library
# of functions only, no top-level side effects, safe under `set -euo pipefail`.
#
# Three masters (network namespaces of testbed.sh) each run kube-apiserver on ADDR:6443 against
# the three testbed etcd members (its own first), plus kube-controller-manager and kube-scheduler
# with leader election, each talking to its own master's apiserver (as kubeadm does). All of them
# are runit services in the master's service/ dir. KWOK (simulated nodes and pods) runs in the
# root namespace under the root runsvdir and reaches the API through HAProxy (127.0.0.1:API_PORT).
#
# Globals the caller sets: DIR, K8S_BIN, MASTER_ADDRS, MASTER_DIRS, MASTER_NETNS (arrays of 3),
# ROOT_SERVICE_DIR, API_PORT, and the functions log, die and add_service (sandbox.sh).
# Optional: K8S_KWOK_PORT (kwok's health/metrics port on 127.0.0.1, default 18383).
#
# Every master component runs in a UTS namespace of its own with the host name m1..m3: the
# apiserver derives its identity lease from the host name (three apiservers sharing the machine's
# name would fight over one lease), and the leader-election holder identities read "m2_<uuid>",
# so the leader's master can be told from the lease.
#
#   k8s_check                 the binaries are there
#   k8s_prepare               PKI, kubeconfigs, runit services (picked up at the next rescan)
#   k8s_haproxy_config        the HAProxy stanza of the API frontend (printed)
#   k8s_wait_ready SECONDS    everything healthy; KWOK nodes, namespace demo, Deployment and PDB web
#   k8s_status                one line per component; non-zero when something is unhealthy
#   k8s_inventory_vars I      extra inventory vars of master I (0-based)
#   k8s_app_up SECS PORT NODE...  Deployment, Service (NodePort PORT) and PDB demo/app on the real
#                             nodes NODE...; waits until every replica is ready
#   k8s_app_status NODE...    the real nodes and demo/app, one line each
#
# K8S_GATEWAY (optional): the bridge address real nodes reach the API on (HAProxy binds it, the
# certificates name it).
#
# tests/harness/k8s-plane.sh (the single-master test plane) sources this file as well and uses
# the shared helpers below (PKI, kubeconfig, admin curl, component flags, kwok, fake nodes).

# ---- helpers ------------------------------------------------------------------------------

# Constants, set by every public function (sourcing the library must not change anything).
_k8s_constants() {
  K8S_APISERVER_PORT=6443
  K8S_KCM_PORT=10257
  K8S_SCHED_PORT=10259
  K8S_WEB_REPLICAS=6
  K8S_APP_REPLICAS=3
  K8S_NODES=3
}

_k8s_dir() { echo "$DIR/k8s"; }
_k8s_pki() { echo "$DIR/k8s/pki"; }
_k8s_kwok_port() { echo "${K8S_KWOK_PORT:-18383}"; }
# The inventory's master names; also the components' host names (see the header).
_k8s_master_name() { echo "m$(($1 + 1))"; }
_k8s_master_kubeconfig() { echo "$DIR/k8s/kubeconfig-$(_k8s_master_name "$1")"; }

# curl as the admin (client certificate), verifying the server against the sandbox CA. $1 is a
# URL or a path (then it goes through HAProxy); the rest are curl options.
_k8s_api() {
  local url="$1"
  shift
  [[ "$url" == https://* ]] || url="https://127.0.0.1:$API_PORT$url"
  k8s_admin_curl "$(_k8s_pki)" 5 "$@" "$url"
}

# Prints $1 quoted for /bin/sh (bare when that is safe, which keeps run scripts readable).
_k8s_quote() {
  if [[ "$1" =~ ^[A-Za-z0-9_./=:,@%+-]+$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}

# Prints a command line for a /bin/sh run script, one argument per line.
_k8s_cmdline() {
  local out="" word sep=$' \\\n  '
  for word in "$@"; do
    out+="${out:+$sep}$(_k8s_quote "$word")"
  done
  printf '%s\n' "$out"
}

_k8s_write_kubeconfig() {  # file server context-name
  local pki
  pki=$(_k8s_pki)
  k8s_write_kubeconfig "$1" "$2" "$pki/ca.crt" "$3" "$3-admin" \
    "client-certificate: $pki/admin.crt" "client-key: $pki/admin.key"
}

_k8s_make_pki() {
  local pki ips="" a sans=()
  pki=$(_k8s_pki)
  for a in "${MASTER_ADDRS[@]}" ${K8S_GATEWAY:+"$K8S_GATEWAY"}; do
    ips+=",IP:$a"
    sans+=("IP:$a")
  done
  # Kept when made for the same addresses, so a rerun does not invalidate running components.
  if [[ -f "$pki/.complete" && "$(cat "$pki/.complete")" == "$ips" ]]; then return 0; fi
  rm -rf "$pki"
  k8s_make_pki "$pki" gameday-sandbox "${sans[@]}" && printf '%s' "$ips" >"$pki/.complete" ||
    die "making the Kubernetes PKI in $pki failed"
}

# ---- shared with tests/harness/k8s-plane.sh ------------------------------------------------
# These take everything they use as arguments (no globals), so the test plane can source this
# library too.

# curl as the admin: client certificate from PKI ($1), the server verified against its CA, at
# most $2 seconds; the rest are curl arguments (options and the URL).
k8s_admin_curl() {
  local pki="$1" secs="$2"
  shift 2
  curl -sS --fail --max-time "$secs" --cacert "$pki/ca.crt" --cert "$pki/admin.crt" \
    --key "$pki/admin.key" "$@"
}

# Writes a kubeconfig (mode 600, replaced atomically) with one cluster, user and context.
k8s_write_kubeconfig() {  # file server ca-file context-name user-name user-field...
  local file="$1" server="$2" ca="$3" name="$4" user="$5" field
  shift 5
  {
    echo "apiVersion: v1"
    echo "kind: Config"
    echo "clusters:"
    echo "- name: $name"
    echo "  cluster:"
    echo "    server: $server"
    echo "    certificate-authority: $ca"
    echo "users:"
    echo "- name: $user"
    echo "  user:"
    for field in "$@"; do echo "    $field"; done
    echo "contexts:"
    echo "- name: $name"
    echo "  context:"
    echo "    cluster: $name"
    echo "    user: $user"
    echo "    namespace: default"
    echo "current-context: $name"
  } >"$file.new" && chmod 600 "$file.new" && mv "$file.new" "$file"
}

# Makes a fresh PKI in folder $1: ca.{key,crt} ("/CN=$2-ca"), apiserver and components serving
# certificates for 127.0.0.1, the SANs given after $2 (e.g. IP:198.18.0.10) and the in-cluster names,
# an admin client certificate (system:masters) and the service-account key pair sa.{key,pub}.
# Returns non-zero when any step fails.
k8s_make_pki() {  # dir name-prefix [SAN...]
  local pki="$1" prefix="$2" sans="IP:127.0.0.1" san
  shift 2
  for san in "$@"; do sans+=",$san"; done
  mkdir -p "$pki" && chmod 700 "$pki" || return 1
  (
    cd "$pki" || exit 1
    umask 077
    # EC keys: fast to make, and every component (and libcurl/OpenSSL, HAProxy) takes them.
    newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
    sign() {  # name subject extensions
      newkey "$1.key" &&
        openssl req -new -key "$1.key" -subj "$2" -out "$1.csr" 2>/dev/null &&
        printf '%s\n' "$3" >"$1.ext" &&
        openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
          -sha256 -extfile "$1.ext" -out "$1.crt" 2>/dev/null &&
        rm -f "$1.csr" "$1.ext"
    }
    local serving="keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=$sans,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:198.19.0.1"
    local client="keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth"
    # Explicit && rather than errexit: a caller's `|| die` would switch errexit off in here.
    newkey ca.key &&
      openssl req -x509 -new -key ca.key -subj "/CN=$prefix-ca" -days 3650 -sha256 \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.crt 2>/dev/null &&
      sign apiserver "/CN=kube-apiserver" "$serving" &&
      # kube-controller-manager, kube-scheduler: served with our CA so health checks verify TLS.
      sign components "/CN=$prefix-components" "$serving" &&
      sign admin "/O=system:masters/CN=gameday-admin" "$client" &&
      # Service-account token signing key pair (RSA: every verifier of SA tokens accepts it).
      openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key 2>/dev/null &&
      openssl pkey -in sa.key -pubout -out sa.pub 2>/dev/null &&
      rm -f ca.srl
  )
}

# Sets the array K8S_ARGS to the kube-apiserver flags both planes use (callers add their own).
k8s_apiserver_args() {  # etcd-servers address port pki cert-dir
  local pki="$4"
  K8S_ARGS=(--etcd-servers="$1"
    --bind-address="$2" --advertise-address="$2" --secure-port="$3"
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key"
    --client-ca-file="$pki/ca.crt" --authorization-mode=Node,RBAC
    --service-account-issuer=https://kubernetes.default.svc
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key"
    --service-cluster-ip-range=198.19.0.0/17
    --enable-priority-and-fairness=false --max-requests-inflight=0
    --max-mutating-requests-inflight=0
    --default-not-ready-toleration-seconds=10 --default-unreachable-toleration-seconds=10
    --profiling=false --cert-dir="$5")
}

# Sets K8S_ARGS to the flags kube-controller-manager and kube-scheduler share.
k8s_component_args() {  # kubeconfig bind-address pki
  K8S_ARGS=(--kubeconfig="$1" --authentication-kubeconfig="$1" --authorization-kubeconfig="$1"
    --bind-address="$2"
    --tls-cert-file="$3/components.crt" --tls-private-key-file="$3/components.key"
    --authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics
    --kube-api-qps=500 --kube-api-burst=1000)
}

# Appends kube-controller-manager's own flags to K8S_ARGS.
k8s_kcm_args() {  # pki
  K8S_ARGS+=(--root-ca-file="$1/ca.crt"
    --service-account-private-key-file="$1/sa.key" --use-service-account-credentials=false
    --node-monitor-grace-period=20s --node-monitor-period=2s
    --concurrent-replicaset-syncs=10 --concurrent-deployment-syncs=10
    --concurrent-gc-syncs=20 --cluster-cidr=198.19.128.0/17)
}

# Writes kwok's configuration file and sets K8S_ARGS to its command line. kwok reads ~/.kwok: a
# private HOME keeps the user's settings out. An empty configuration means its built-in default
# stages (node initialise + heartbeat via leases, pod ready, complete and delete).
k8s_kwok_command() {  # kwok-binary home kubeconfig config-file health-port
  cat >"$4" <<'YAML' || return 1
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options: {}
YAML
  K8S_ARGS=(env HOME="$2" "$1" --kubeconfig="$3"
    --config="$4" --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake
    --node-ip=127.0.0.1 --server-address="127.0.0.1:$5" --cidr=198.19.128.1/17
    --node-lease-duration-seconds=10)
}

# Prints the JSON of fake (KWOK-managed) node kwok-node-$1.
k8s_node_json() {
  cat <<JSON
{"apiVersion": "v1", "kind": "Node",
 "metadata": {"name": "kwok-node-$1",
   "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
   "labels": {"type": "kwok", "kubernetes.io/hostname": "kwok-node-$1",
              "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}},
 "spec": {"taints": [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]},
 "status": {"allocatable": {"cpu": "64", "memory": "256Gi", "pods": "2000"},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "2000"}}}
JSON
}

# ---- interface ----------------------------------------------------------------------------

k8s_check() {
  _k8s_constants
  local b tool
  [[ -n "${K8S_BIN:-}" && -d "$K8S_BIN" ]] || die "Kubernetes binaries folder '${K8S_BIN:-}' missing"
  for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
    [[ -f "$K8S_BIN/$b" && -x "$K8S_BIN/$b" ]] ||
      die "$K8S_BIN/$b is missing or not executable (tests/harness/build-k8s.sh builds it)"
  done
  for tool in openssl curl jq unshare hostname sv; do
    command -v "$tool" >/dev/null || die "$tool is required for the Kubernetes sandbox"
  done
}

k8s_prepare() {
  _k8s_constants
  local k8s pki i addr hd name etcd j kc sv cmd uts common
  local -a K8S_ARGS
  k8s=$(_k8s_dir)
  pki=$(_k8s_pki)
  ((${#MASTER_ADDRS[@]} == 3 && ${#MASTER_DIRS[@]} == 3)) || die "k8s_prepare needs 3 masters"
  mkdir -p "$k8s/kwok-home"
  chmod 700 "$k8s"
  _k8s_make_pki
  _k8s_write_kubeconfig "$DIR/kubeconfig" "https://127.0.0.1:$API_PORT" gameday-sandbox

  for i in 0 1 2; do
    addr="${MASTER_ADDRS[$i]}"
    hd="${MASTER_DIRS[$i]}"
    name=$(_k8s_master_name "$i")
    sv="$hd/service"
    kc=$(_k8s_master_kubeconfig "$i")
    _k8s_write_kubeconfig "$kc" "https://$addr:$K8S_APISERVER_PORT" "gameday-sandbox-$name"
    etcd="http://$addr:2379"
    for j in 0 1 2; do
      ((j == i)) || etcd+=",http://${MASTER_ADDRS[$j]}:2379"
    done
    # A UTS namespace named after the master (see the header). unshare and sh exec in place,
    # so runit's pid is the component's pid.
    uts="unshare --uts /bin/sh -c 'hostname $name && exec \"\$0\" \"\$@\"'"

    # --request-timeout also bounds the graceful shutdown (http.Server.Shutdown waits that long
    # for open watches): with the default 60s, `sv down` would take a minute. Its listener
    # closes at once either way, so HAProxy retries elsewhere and no request is lost.
    k8s_apiserver_args "$etcd" "$addr" "$K8S_APISERVER_PORT" "$pki" "$hd/kube-apiserver-certs"
    # Kubelets (real nodes) by their InternalIP, never by name through the machine's resolver,
    # with a client certificate the kubelets' webhook authorizer grants (logs, exec).
    K8S_ARGS+=(--kubelet-preferred-address-types=InternalIP
      --kubelet-client-certificate="$pki/admin.crt" --kubelet-client-key="$pki/admin.key"
      --kubelet-certificate-authority="$pki/ca.crt")
    cmd=$(_k8s_cmdline "$K8S_BIN/kube-apiserver" "${K8S_ARGS[@]}" --request-timeout=5s)
    add_service "$sv" kube-apiserver "cd $(_k8s_quote "$hd") || exit 1
exec >>$(_k8s_quote "$hd/kube-apiserver.log") 2>&1
exec $uts $cmd"

    # Leader election with a short lease, so a stopped leader is replaced within ~5 s.
    k8s_component_args "$kc" "$addr" "$pki"
    K8S_ARGS+=(--leader-elect=true --leader-elect-lease-duration=4s
      --leader-elect-renew-deadline=3s --leader-elect-retry-period=1s)
    common=("${K8S_ARGS[@]}")
    K8S_ARGS+=(--secure-port="$K8S_KCM_PORT")
    k8s_kcm_args "$pki"
    cmd=$(_k8s_cmdline "$K8S_BIN/kube-controller-manager" "${K8S_ARGS[@]}")
    add_service "$sv" kube-controller-manager "cd $(_k8s_quote "$hd") || exit 1
exec >>$(_k8s_quote "$hd/kube-controller-manager.log") 2>&1
exec $uts $cmd"

    cmd=$(_k8s_cmdline "$K8S_BIN/kube-scheduler" "${common[@]}" \
      --secure-port="$K8S_SCHED_PORT")
    add_service "$sv" kube-scheduler "cd $(_k8s_quote "$hd") || exit 1
exec >>$(_k8s_quote "$hd/kube-scheduler.log") 2>&1
exec $uts $cmd"
  done

  k8s_kwok_command "$K8S_BIN/kwok" "$k8s/kwok-home" "$DIR/kubeconfig" "$k8s/kwok.yaml" \
    "$(_k8s_kwok_port)" || die "writing $k8s/kwok.yaml failed"
  mkdir -p "$ROOT_SERVICE_DIR"
  cmd=$(_k8s_cmdline "${K8S_ARGS[@]}" --v=WARN)
  add_service "$ROOT_SERVICE_DIR" kwok "cd $(_k8s_quote "$k8s/kwok-home") || exit 1
exec >>$(_k8s_quote "$k8s/kwok.log") 2>&1
exec $cmd"
}

# The API frontend. TCP passthrough (clients authenticate with their own certificates); the check
# is an unauthenticated GET /readyz over TLS, which kube-apiserver grants anonymously through the
# system:public-info-viewer ClusterRole. A stopped apiserver is out after two failed checks
# (~1 s); meanwhile a refused connection is retried on another server (redispatch). When a
# server is marked down its open connections (watches) are cut, so clients reconnect at once
# instead of hanging on a frozen or partitioned master.
k8s_haproxy_config() {
  _k8s_constants
  local i
  cat <<EOF
listen kube-apiserver
  bind 127.0.0.1:$API_PORT
EOF
  if [[ -n "${K8S_GATEWAY:-}" ]]; then echo "  bind $K8S_GATEWAY:$API_PORT"; fi
  cat <<EOF
  mode tcp
  balance roundrobin
  # Watches are long-lived: the defaults' HTTP timeouts would cut them.
  timeout client 1h
  timeout server 1h
  timeout connect 500ms
  timeout check 400ms
  retries 2
  option redispatch
  option httpchk GET /readyz
  http-check expect status 200
  default-server check check-ssl verify none inter 500ms fastinter 250ms downinter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
EOF
  for i in 0 1 2; do
    echo "  server $(_k8s_master_name "$i") ${MASTER_ADDRS[$i]}:$K8S_APISERVER_PORT"
  done
}

# The lease's holder and whether it is current; prints "m2_<uuid>" or nothing.
_k8s_lease_holder() {
  _k8s_api "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/$1" 2>/dev/null |
    jq -r '(.spec.renewTime // "" | sub("\\.[0-9]+Z$"; "Z")) as $t
      | if .spec.holderIdentity and $t != ""
           and ($t | fromdateiso8601) + (.spec.leaseDurationSeconds // 0) + 2 >= now
        then .spec.holderIdentity else empty end' 2>/dev/null || true
}

_k8s_readyz() {  # index: that master's apiserver directly
  _k8s_api "https://${MASTER_ADDRS[$1]}:$K8S_APISERVER_PORT/readyz" -o /dev/null 2>/dev/null
}

# The jq filter that counts schedulable nodes in a NodeList: Ready, and no longer carrying the
# not-ready/unreachable taints, which the node lifecycle controller removes only after it has
# seen the node Ready (until then the scheduler puts every pod on the nodes seen first).
k8s_schedulable_nodes_jq() {
  echo '[.items[] | select(any(.status.conditions[]?; .type=="Ready" and .status=="True"))
         | select(all(.spec.taints[]?; .key != "node.kubernetes.io/not-ready"
                                       and .key != "node.kubernetes.io/unreachable"))] | length'
}

_k8s_nodes_ready() {
  _k8s_api "/api/v1/nodes?labelSelector=type%3Dkwok" 2>/dev/null |
    jq "$(k8s_schedulable_nodes_jq)" 2>/dev/null || echo 0
}

# "ready desired" of Deployment demo/$1 (web, or app on the real nodes), or "0 0".
_k8s_replicas() {
  _k8s_api "/apis/apps/v1/namespaces/demo/deployments/$1" 2>/dev/null |
    jq -r '"\(.status.readyReplicas // 0) \(.spec.replicas // 0)"' 2>/dev/null || echo "0 0"
}

# PodDisruptionBudget demo/$1 for the pods labelled app=$1: one down at a time.
_k8s_create_pdb() {
  _k8s_create /apis/policy/v1/namespaces/demo/poddisruptionbudgets "$1" <<EOF
{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
 "metadata": {"name": "$1", "namespace": "demo"},
 "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "$1"}}}}
EOF
}

# POSTs the JSON on stdin to $1 (a collection path); when the object exists and $2 (its name)
# is given, PUTs it over the existing one (unconditional update: spec back to the desired state,
# status kept), otherwise an existing object is fine.
_k8s_create() {
  local path="$1" name="${2:-}" body code
  body=$(cat)
  code=$(_k8s_api "$path" -o /dev/null -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' --data-binary "$body" 2>/dev/null) || true
  case "$code" in
    201 | 200) return 0 ;;
    409)
      [[ -z "$name" ]] && return 0
      # Not every kind takes an unconditional update (a PDB does not): send the current
      # resourceVersion along.
      local rv
      rv=$(_k8s_api "$path/$name" | jq -r .metadata.resourceVersion) ||
        die "reading $path/$name failed"
      body=$(jq --arg rv "$rv" '.metadata.resourceVersion = $rv' <<<"$body")
      _k8s_api "$path/$name" -o /dev/null -X PUT -H 'Content-Type: application/json' \
        --data-binary "$body" || die "updating $path/$name failed"
      ;;
    *) die "creating an object in $path failed (HTTP ${code:-none})" ;;
  esac
}

# Polls "$@" until it succeeds or the deadline (K8S_DEADLINE) passes; $1 names what is awaited.
_k8s_wait() {
  local what="$1"
  shift
  while ! "$@" >/dev/null 2>&1; do
    if (($(date +%s) >= K8S_DEADLINE)); then
      _k8s_hint
      die "timed out waiting for $what"
    fi
    sleep 0.25
  done
  log "$what ready (+$(($(date +%s) - K8S_STARTED))s)"
}

_k8s_hint() {
  local i hd
  for i in 0 1 2; do
    hd="${MASTER_DIRS[$i]}"
    log "$(_k8s_master_name "$i"): $(sv status "$hd/service/kube-apiserver" 2>&1 | head -1)"
    tail -n 3 "$hd/kube-apiserver.log" 2>/dev/null | sed 's/^/    /' >&2 || true
  done
  log "kwok: $(sv status "$ROOT_SERVICE_DIR/kwok" 2>&1 | head -1)"
  tail -n 3 "$(_k8s_dir)/kwok.log" 2>/dev/null | sed 's/^/    /' >&2 || true
}

_k8s_all_readyz() { _k8s_readyz 0 && _k8s_readyz 1 && _k8s_readyz 2; }
_k8s_has_leader() { [[ -n "$(_k8s_lease_holder "$1")" ]]; }
_k8s_kwok_healthy() { curl -sf --max-time 2 "http://127.0.0.1:$(_k8s_kwok_port)/healthz"; }
_k8s_nodes_all_ready() { (($(_k8s_nodes_ready) >= K8S_NODES)); }
_k8s_web_ready() {
  local r
  r=$(_k8s_replicas web)
  [[ "$r" == "$K8S_WEB_REPLICAS $K8S_WEB_REPLICAS" ]]
}

k8s_wait_ready() {
  _k8s_constants
  local secs="${1:-120}" i
  K8S_STARTED=$(date +%s)
  K8S_DEADLINE=$((K8S_STARTED + secs))
  _k8s_wait "kube-apiservers (3 x /readyz)" _k8s_all_readyz
  _k8s_wait "the API through HAProxy" _k8s_api /readyz -o /dev/null
  _k8s_wait "kube-controller-manager leader" _k8s_has_leader kube-controller-manager
  _k8s_wait "kube-scheduler leader" _k8s_has_leader kube-scheduler
  _k8s_wait "kwok" _k8s_kwok_healthy

  for i in $(seq 1 "$K8S_NODES"); do
    _k8s_create /api/v1/nodes <<<"$(k8s_node_json "$i")"
  done
  _k8s_create /api/v1/namespaces <<'EOF'
{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}
EOF
  # Pods are refused until the namespace's default ServiceAccount exists (made by the kcm), and
  # the ReplicaSet controller would then back off: wait for it before creating the Deployment.
  _k8s_wait "ServiceAccount demo/default" _k8s_api /api/v1/namespaces/demo/serviceaccounts/default
  _k8s_create /apis/apps/v1/namespaces/demo/deployments web <<EOF
{"apiVersion": "apps/v1", "kind": "Deployment",
 "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"}},
 "spec": {"replicas": $K8S_WEB_REPLICAS,
   "selector": {"matchLabels": {"app": "web"}},
   "template": {
     "metadata": {"labels": {"app": "web"}},
     "spec": {
       "nodeSelector": {"type": "kwok"},
       "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
       "containers": [{"name": "web", "image": "registry.k8s.io/pause:3.10"}]}}}}
EOF
  _k8s_create_pdb web
  _k8s_wait "KWOK nodes ($K8S_NODES Ready)" _k8s_nodes_all_ready
  _k8s_wait "Deployment demo/web ($K8S_WEB_REPLICAS ready)" _k8s_web_ready
}

k8s_status() {
  _k8s_constants
  local ok=0 i name holder n r
  for i in 0 1 2; do
    name=$(_k8s_master_name "$i")
    if _k8s_readyz "$i"; then
      echo "kube-apiserver $name (${MASTER_ADDRS[$i]}:$K8S_APISERVER_PORT): ready"
    else
      echo "kube-apiserver $name (${MASTER_ADDRS[$i]}:$K8S_APISERVER_PORT): NOT READY"
      ok=1
    fi
  done
  if _k8s_api /readyz -o /dev/null 2>/dev/null; then
    echo "Kubernetes API via HAProxy (https://127.0.0.1:$API_PORT): ready"
  else
    echo "Kubernetes API via HAProxy (https://127.0.0.1:$API_PORT): NOT READY"
    ok=1
  fi
  for name in kube-controller-manager kube-scheduler; do
    holder=$(_k8s_lease_holder "$name")
    if [[ -n "$holder" ]]; then
      echo "$name leader: ${holder%%_*} ($holder)"
    else
      echo "$name leader: NONE"
      ok=1
    fi
  done
  if _k8s_kwok_healthy >/dev/null 2>&1; then echo "kwok: healthy"; else
    echo "kwok: NOT HEALTHY"
    ok=1
  fi
  n=$(_k8s_nodes_ready)
  echo "KWOK nodes Ready: $n/$K8S_NODES"
  ((n >= K8S_NODES)) || ok=1
  r=$(_k8s_replicas web)
  echo "Deployment demo/web ready: ${r% *}/${r#* }"
  [[ "${r% *}" == "${r#* }" && "${r#* }" != 0 ]] || ok=1
  return "$ok"
}

# ---- the real nodes' workload ---------------------------------------------------------------

_k8s_app_ready() { [[ "$(_k8s_replicas app)" == "$K8S_APP_REPLICAS $K8S_APP_REPLICAS" ]]; }

# Deployment demo/app: gameday-demo as real containers (the build's image, imported into each
# node; never pulled), three replicas spread over the real nodes, probes on /healthz (readiness
# every second; liveness every second, three misses: a hung process is restarted within ~3 s),
# 2 s to stop. Service app: NodePort $2 on every node, each answering from its own node's pods
# (externalTrafficPolicy Local: what a health-checking load balancer in front needs). PDB app: one
# replica down at a time.
k8s_app_up() {
  _k8s_constants
  local secs="$1" node_port="$2"
  shift 2
  K8S_STARTED=$(date +%s)
  K8S_DEADLINE=$((K8S_STARTED + secs))
  _k8s_create /apis/apps/v1/namespaces/demo/deployments app <<EOF
{"apiVersion": "apps/v1", "kind": "Deployment",
 "metadata": {"name": "app", "namespace": "demo", "labels": {"app": "app"}},
 "spec": {"replicas": $K8S_APP_REPLICAS,
   "selector": {"matchLabels": {"app": "app"}},
   "template": {
     "metadata": {"labels": {"app": "app"}},
     "spec": {
       "nodeSelector": {"type": "real"},
       "terminationGracePeriodSeconds": 2,
       "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
         "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "app"}}}],
       "containers": [{"name": "app", "image": "gameday.local/gameday-demo:1",
         "imagePullPolicy": "Never",
         "args": ["--port", "8080", "--bind", "0.0.0.0", "--name", "\$(POD_NAME)"],
         "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
         "ports": [{"name": "http", "containerPort": 8080}],
         "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
           "periodSeconds": 1, "timeoutSeconds": 1, "failureThreshold": 1},
         "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080},
           "periodSeconds": 1, "timeoutSeconds": 1, "failureThreshold": 3}}]}}}}
EOF
  _k8s_create /api/v1/namespaces/demo/services <<EOF
{"apiVersion": "v1", "kind": "Service",
 "metadata": {"name": "app", "namespace": "demo"},
 "spec": {"type": "NodePort", "externalTrafficPolicy": "Local", "selector": {"app": "app"},
   "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": $node_port}]}}
EOF
  _k8s_create_pdb app
  _k8s_wait "Deployment demo/app ($K8S_APP_REPLICAS ready on real nodes $*)" _k8s_app_ready
}

k8s_app_status() {
  _k8s_constants
  local ok=0 node ready r
  for node in "$@"; do
    ready=$(_k8s_api "/api/v1/nodes/$node" 2>/dev/null |
      jq -r '[.status.conditions[]? | select(.type == "Ready") | .status][0] // "missing"' 2>/dev/null ||
      echo unreachable)
    echo "real node $node: Ready=$ready"
    [[ "$ready" == True ]] || ok=1
  done
  r=$(_k8s_replicas app)
  echo "Deployment demo/app ready: ${r% *}/${r#* }"
  [[ "${r% *}" == "${r#* }" && "${r#* }" != 0 ]] || ok=1
  return "$ok"
}

k8s_inventory_vars() {
  _k8s_constants
  local i="$1" hd
  hd="${MASTER_DIRS[$i]}"
  echo "      apiserver_url: https://${MASTER_ADDRS[$i]}:$K8S_APISERVER_PORT"
  echo "      apiserver_service_dir: $hd/service/kube-apiserver"
  echo "      controller_manager_service_dir: $hd/service/kube-controller-manager"
  echo "      scheduler_service_dir: $hd/service/kube-scheduler"
}
