#!/usr/bin/env bash
# Build a real Kubernetes control plane for gameday's tests from the Go module proxy:
# kube-apiserver, kube-controller-manager, kube-scheduler, etcd (+ etcdctl) and kwok; with
# --with-nodes also what a real node runs: kubelet, kube-proxy, containerd (+ its runc shim, ctr).
#
# Binaries are cached outside the repo, keyed by every version that goes into them:
#   ${GAMEDAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gameday}/bin/k8s-<k>-etcd-<e>-kwok-<w>-go<g>/
# A `.complete` stamp is written last; when it exists the script only prints the folder.
# Progress goes to stderr; the only stdout line is the bin folder, so both
#   BIN=$(tests/harness/build-k8s.sh)   and   BIN=$(tests/harness/build-k8s.sh | tail -1)
# work. See tests/harness/README.md.
set -euo pipefail

# ---- pinned versions (override with the environment) ---------------------------------------
K8S_VERSION="${GAMEDAY_K8S_VERSION:-v1.36.3}"    # k8s.io/kubernetes; staging modules at v0.<minor>.<patch>
ETCD_VERSION="${GAMEDAY_ETCD_VERSION:-v3.6.16}"  # go.etcd.io/etcd/server/v3 (+ etcdctl/v3)
KWOK_VERSION="${GAMEDAY_KWOK_VERSION:-v0.7.0}"   # sigs.k8s.io/kwok (newer tags may want a newer Go)
GO="${GAMEDAY_GO:-/usr/local/go/bin/go}"
BUILD_ETCDCTL="${GAMEDAY_BUILD_ETCDCTL:-1}"      # 0 to skip etcdctl
BUILD_KUBECTL="${GAMEDAY_BUILD_KUBECTL:-0}"      # 1 (or --with-kubectl) to add kubectl (benchmarks)
BUILD_NODES="${GAMEDAY_BUILD_NODES:-0}"          # 1 (or --with-nodes): kubelet, kube-proxy, containerd
CONTAINERD_VERSION="${GAMEDAY_CONTAINERD_VERSION:-v2.4.2}"  # github.com/containerd/containerd/v2
JOBS="${GAMEDAY_BUILD_JOBS:-2}"                  # go build -p

CACHE_ROOT="${GAMEDAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gameday}"

for arg in "$@"; do
  case "$arg" in
    --with-kubectl) BUILD_KUBECTL=1 ;;
    --with-nodes) BUILD_NODES=1 ;;
    *) echo "usage: build-k8s.sh [--with-kubectl] [--with-nodes]" >&2; exit 2 ;;
  esac
done

# ---- helpers ------------------------------------------------------------------------------
START=$(date +%s)
log() { printf '[%s +%4ss] %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - START ))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ -x "$GO" ]] || die "Go not found at $GO (set GAMEDAY_GO)"
[[ "$K8S_VERSION" =~ ^v1\.([0-9]+)\.([0-9]+.*)$ ]] || die "GAMEDAY_K8S_VERSION must look like v1.36.3"
K8S_MINOR="${BASH_REMATCH[1]}"
STAGING_VERSION="v0.${K8S_MINOR}.${BASH_REMATCH[2]}"   # v1.36.3 -> v0.36.3

# A clean, reproducible Go environment; everything it writes stays under the cache folder.
export GOTOOLCHAIN=local          # a silent toolchain switch must fail loudly instead
export GO111MODULE=on GOWORK=off CGO_ENABLED=0
export GOFLAGS="-modcacherw -buildvcs=false"
export GOPATH="$CACHE_ROOT/go"
export GOMODCACHE="$CACHE_ROOT/go/mod"
export GOCACHE="$CACHE_ROOT/go/build-cache"
unset GOBIN GOOS GOARCH

GO_VERSION=$("$GO" env GOVERSION)  # e.g. go1.26.8
KEY="k8s-${K8S_VERSION#v}-etcd-${ETCD_VERSION#v}-kwok-${KWOK_VERSION#v}-go${GO_VERSION#go}"
BIN_DIR="$CACHE_ROOT/bin/$KEY"

# kubectl has its own stamp in the same folder: it is only needed by the benchmarks, so a folder
# built without it stays valid and only kubectl is built when it is asked for later. The node
# binaries likewise (.nodes-complete, which records the containerd version it was built from).
NODES_STAMP="containerd=$CONTAINERD_VERSION"
have_nodes() { [[ -f "$BIN_DIR/.nodes-complete" && "$(cat "$BIN_DIR/.nodes-complete")" == "$NODES_STAMP" ]]; }
have_all() {
  [[ -f "$BIN_DIR/.complete" ]] && { [[ "$BUILD_KUBECTL" != 1 ]] || [[ -f "$BIN_DIR/.kubectl-complete" ]]; } &&
    { [[ "$BUILD_NODES" != 1 ]] || have_nodes; }
}
if have_all; then
  echo "$BIN_DIR"
  exit 0
fi

mkdir -p "$CACHE_ROOT/bin" "$GOMODCACHE" "$GOCACHE"

# One builder at a time per cache; a waiting second caller then finds the stamp.
exec 9>"$CACHE_ROOT/bin/.lock"
if ! flock -n 9; then
  log "another build holds $CACHE_ROOT/bin/.lock; waiting"
  flock 9
  log "got the lock after $(( $(date +%s) - START ))s"
  START=$(date +%s)  # "done in" then counts this build only
fi
if have_all; then
  echo "$BIN_DIR"
  exit 0
fi

WORK=$(mktemp -d "$CACHE_ROOT/bin/.build-$KEY.XXXXXX")   # same filesystem as BIN_DIR: mv is atomic
# A step logs its start and then, every 30 s until the next step, that it is still at work: the
# long `go build`s print nothing of their own.
TICKER=""
stop_ticker() {
  if [[ -n "$TICKER" ]]; then kill "$TICKER" 2>/dev/null || true; wait "$TICKER" 2>/dev/null || true; fi
  TICKER=""
}
cleanup() { stop_ticker; rm -rf "$WORK"; }
trap cleanup EXIT
OUT="$WORK/out"
mkdir -p "$OUT" "$WORK/src"

# Version stamping as upstream's hack/lib/version.sh does. buildDate is the release's commit
# time from the proxy (reproducible), falling back to now. Prints the -ldflags value.
k8s_ldflags() { # $1 = the Info file of k8s.io/kubernetes@$K8S_VERSION
  local build_date flags="-s -w" pkg
  build_date=$(jq -r '.Time // empty' "$1" 2>/dev/null | sed -E 's/\.[0-9]+Z$/Z/')
  [[ -n "$build_date" ]] || build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$K8S_MINOR"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
  done
  echo "$flags"
}

# Builds kubectl from the wrapper module in $1 into $2 and checks its version.
build_kubectl() {
  local src="$1" out="$2" info got
  log "building kubectl…"
  (cd "$src" && "$GO" get -tool "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION" 2>&1 | tail -n 20 >&2) \
    || die "go get for kubectl failed"
  info=$(cd "$WORK" && "$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" | jq -r .Info)
  (cd "$src" && "$GO" build -trimpath -p "$JOBS" -ldflags "$(k8s_ldflags "$info")" \
      -o "$out/kubectl" k8s.io/kubernetes/cmd/kubectl) || die "building kubectl failed"
  got=$("$out/kubectl" version --client 2>&1) || die "kubectl version --client failed: $got"
  grep -qF -- "Client Version: $K8S_VERSION" <<<"$got" || die "kubectl printed '$got'"
  log "ok: kubectl version --client -> $(head -n 1 <<<"$got")"
}

TOTAL=0
STEP=0
step() {
  stop_ticker
  STEP=$((STEP + 1))
  log "building $1 ($STEP/$TOTAL)…"
  local began
  began=$(date +%s)
  # Its stdout is not the script's: callers read the result from that pipe until it closes.
  (
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    while :; do
      sleep 30 & nap=$!
      wait "$nap"
      log "… still building $1 ($(( $(date +%s) - began ))s so far)"
    done
  ) >/dev/null &
  TICKER=$!
}

# Prints the JSON field $2 of `go mod download -json $1`.
mod_field() {
  local json
  json=$(cd "$WORK" && "$GO" mod download -json "$1") || { printf '%s\n' "$json" >&2; die "go mod download $1 failed"; }
  jq -er --arg f "$2" '.[$f]' <<<"$json" || die "no $2 in go mod download -json $1"
}

# Prints the `go` and `godebug` directives (single-line or block form) of go.mod file $1.
go_and_godebug_lines() {
  awk '
    /^go[ \t]/                    { print; next }
    /^godebug[ \t]*\(/            { inblock = 1; print; next }
    inblock                       { print; if ($0 ~ /^\)/) inblock = 0; next }
    /^godebug[ \t]/               { print }
  ' "$1"
}

# Builds kubelet and kube-proxy from the Kubernetes wrapper module in $1, and containerd,
# containerd-shim-runc-v2 and ctr from a wrapper of their own, into $2; checks their versions.
# containerd's storage drivers that need cgo or kernel features a test node does not use are
# left out by tags, so it builds with CGO_ENABLED=0 (the snapshotters left are overlayfs and native).
CONTAINERD_TAGS="no_btrfs no_devmapper no_zfs no_aufs"
build_nodes() {
  local src="$1" out="$2" info cmd csrc gomod flags pkg
  log "fetching kubelet and kube-proxy dependencies (go get -tool)"
  (cd "$src" && "$GO" get -tool "k8s.io/kubernetes/cmd/kubelet@$K8S_VERSION" \
      "k8s.io/kubernetes/cmd/kube-proxy@$K8S_VERSION" 2>&1 | tail -n 20 >&2) \
    || die "go get for kubelet/kube-proxy failed"
  info=$(cd "$WORK" && "$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" | jq -r .Info)
  flags=$(k8s_ldflags "$info")
  for cmd in kubelet kube-proxy; do
    step "$cmd"
    (cd "$src" && "$GO" build -trimpath -p "$JOBS" -ldflags "$flags" \
        -o "$out/$cmd" "k8s.io/kubernetes/cmd/$cmd") || die "building $cmd failed"
  done

  csrc="$WORK/src/containerd"
  gomod=$(mod_field "github.com/containerd/containerd/v2@$CONTAINERD_VERSION" GoMod)
  grep -qE '^[[:space:]]*replace' "$gomod" && log "warning: containerd's go.mod has replace directives"
  mkdir -p "$csrc"
  {
    echo "// Generated by gameday tests/harness/build-k8s.sh"
    echo "module gameday.local/build/containerd"
    echo
    go_and_godebug_lines "$gomod"
    echo
    echo "require github.com/containerd/containerd/v2 $CONTAINERD_VERSION"
  } >"$csrc/go.mod"
  log "fetching containerd dependencies (go get -tool)"
  (cd "$csrc" && "$GO" get -tool "github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
      "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
      "github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION" 2>&1 | tail -n 20 >&2) \
    || die "go get for containerd failed"
  got=$(cd "$csrc" && "$GO" list -m -f '{{.Version}}' github.com/containerd/containerd/v2)
  [[ "$got" == "$CONTAINERD_VERSION" ]] || die "containerd wrapper resolved $got, wanted $CONTAINERD_VERSION"
  pkg=github.com/containerd/containerd/v2/version
  flags="-s -w -X $pkg.Version=$CONTAINERD_VERSION -X $pkg.Package=github.com/containerd/containerd/v2"
  for cmd in containerd containerd-shim-runc-v2 ctr; do
    step "$cmd"
    (cd "$csrc" && "$GO" build -trimpath -p "$JOBS" -tags "$CONTAINERD_TAGS" -ldflags "$flags" \
        -o "$out/$cmd" "github.com/containerd/containerd/v2/cmd/$cmd") || die "building $cmd failed"
  done
  stop_ticker
  cp "$csrc/go.mod" "$out/containerd-wrapper.go.mod"

  local v
  v=$("$out/kubelet" --version 2>&1) || die "kubelet --version failed: $v"
  grep -qF "Kubernetes $K8S_VERSION" <<<"$v" || die "kubelet --version printed '$v'"
  v=$("$out/kube-proxy" --version 2>&1) || die "kube-proxy --version failed: $v"
  grep -qF "Kubernetes $K8S_VERSION" <<<"$v" || die "kube-proxy --version printed '$v'"
  v=$("$out/containerd" --version 2>&1) || die "containerd --version failed: $v"
  grep -qF "$CONTAINERD_VERSION" <<<"$v" || die "containerd --version printed '$v'"
  v=$("$out/ctr" --version 2>&1) || die "ctr --version failed: $v"
  grep -qF "$CONTAINERD_VERSION" <<<"$v" || die "ctr --version printed '$v'"
  "$out/containerd-shim-runc-v2" -v >/dev/null 2>&1 || die "containerd-shim-runc-v2 -v failed"
  log "ok: kubelet, kube-proxy $K8S_VERSION; containerd, shim, ctr $CONTAINERD_VERSION"
}

if [[ -f "$BIN_DIR/.complete" ]]; then
  # Only kubectl and/or the node binaries are missing: build them from the recorded wrapper
  # module (the same pins).
  STEP=0 TOTAL=0
  if [[ "$BUILD_KUBECTL" == 1 && ! -f "$BIN_DIR/.kubectl-complete" ]]; then
    log "adding kubectl to $KEY"
    mkdir -p "$WORK/src/kubectl"
    cp "$BIN_DIR/kubernetes-wrapper.go.mod" "$WORK/src/kubectl/go.mod"
    build_kubectl "$WORK/src/kubectl" "$OUT"
    mv -f "$OUT/kubectl" "$BIN_DIR/kubectl"
    touch "$BIN_DIR/.kubectl-complete"
  fi
  if [[ "$BUILD_NODES" == 1 ]] && ! have_nodes; then
    log "adding kubelet, kube-proxy and containerd $CONTAINERD_VERSION to $KEY"
    TOTAL=5
    mkdir -p "$WORK/src/nodes"
    cp "$BIN_DIR/kubernetes-wrapper.go.mod" "$WORK/src/nodes/go.mod"
    build_nodes "$WORK/src/nodes" "$OUT"
    rm -f "$BIN_DIR/.nodes-complete"
    for b in kubelet kube-proxy containerd containerd-shim-runc-v2 ctr containerd-wrapper.go.mod; do
      mv -f "$OUT/$b" "$BIN_DIR/$b"
    done
    printf '%s' "$NODES_STAMP" >"$BIN_DIR/.nodes-complete"
  fi
  log "done in $(( $(date +%s) - START ))s"
  echo "$BIN_DIR"
  exit 0
fi

log "building $KEY"
log "cache: $CACHE_ROOT ($("$GO" env GOPROXY))"
if [[ "$BUILD_ETCDCTL" == 1 ]]; then TOTAL=6; else TOTAL=5; fi
if [[ "$BUILD_NODES" == 1 ]]; then TOTAL=$((TOTAL + 5)); fi
STEP=0
# ---- Kubernetes ---------------------------------------------------------------------------
log "resolving k8s.io/kubernetes@$K8S_VERSION (staging modules at $STAGING_VERSION)"
K8S_GOMOD=$(mod_field "k8s.io/kubernetes@$K8S_VERSION" GoMod)
K8S_INFO=$(mod_field "k8s.io/kubernetes@$K8S_VERSION" Info)
# Every `k8s.io/NAME => ./staging/src/...` replacement, in either replace form.
mapfile -t STAGING < <(sed -nE 's#^[[:space:]]*(replace[[:space:]]+)?(k8s\.io/[^[:space:]]+)[[:space:]]+=>[[:space:]]+\./staging/.*#\2#p' "$K8S_GOMOD" | sort -u)
(( ${#STAGING[@]} > 0 )) || die "no ./staging replacements found in $K8S_GOMOD"
log "${#STAGING[@]} staging modules: ${STAGING[*]}"

K8S_SRC="$WORK/src/kubernetes"
mkdir -p "$K8S_SRC"
{
  echo "// Generated by gameday tests/harness/build-k8s.sh: builds k8s.io/kubernetes commands"
  echo "// against the published staging modules."
  echo "module gameday.local/build/kubernetes"
  echo
  go_and_godebug_lines "$K8S_GOMOD"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  echo "replace ("
  for m in "${STAGING[@]}"; do printf '\t%s => %s %s\n' "$m" "$m" "$STAGING_VERSION"; done
  echo ")"
} >"$K8S_SRC/go.mod"
grep -q '^godebug' "$K8S_SRC/go.mod" || log "warning: upstream go.mod has no godebug line"

K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler)
log "fetching Kubernetes dependencies (go get -tool)"
K8S_PKGS=()
for cmd in "${K8S_CMDS[@]}"; do K8S_PKGS+=("k8s.io/kubernetes/cmd/$cmd@$K8S_VERSION"); done
(cd "$K8S_SRC" && "$GO" get -tool "${K8S_PKGS[@]}" 2>&1 | tail -n 20 >&2) \
  || die "go get for Kubernetes failed"
# Re-pin in case go get moved anything: the wrapper must build exactly $K8S_VERSION.
got=$(cd "$K8S_SRC" && "$GO" list -m -f '{{.Version}}' k8s.io/kubernetes)
[[ "$got" == "$K8S_VERSION" ]] || die "wrapper resolved k8s.io/kubernetes $got, wanted $K8S_VERSION"

K8S_LDFLAGS=$(k8s_ldflags "$K8S_INFO")

for cmd in "${K8S_CMDS[@]}"; do
  step "$cmd"
  (cd "$K8S_SRC" && "$GO" build -trimpath -p "$JOBS" -ldflags "$K8S_LDFLAGS" \
      -o "$OUT/$cmd" "k8s.io/kubernetes/cmd/$cmd") || die "building $cmd failed"
done

if [[ "$BUILD_KUBECTL" == 1 ]]; then build_kubectl "$K8S_SRC" "$OUT"; fi
if [[ "$BUILD_NODES" == 1 ]]; then build_nodes "$K8S_SRC" "$OUT"; fi

# ---- etcd ---------------------------------------------------------------------------------
# go.etcd.io/etcd/server/v3 and etcdctl/v3 have `package main` at their module roots but
# replace directives in go.mod, so `go install @version` is refused: one wrapper each.
build_etcd_module() { # $1 = module path, $2 = output name
  local mod="$1" name="$2" src="$WORK/src/$2" gomod
  gomod=$(mod_field "$mod@$ETCD_VERSION" GoMod)
  mkdir -p "$src"
  {
    echo "// Generated by gameday tests/harness/build-k8s.sh"
    echo "module gameday.local/build/$name"
    echo
    go_and_godebug_lines "$gomod"
    echo
    echo "require $mod $ETCD_VERSION"
  } >"$src/go.mod"
  (cd "$src" && "$GO" get -tool "$mod@$ETCD_VERSION" 2>&1 | tail -n 20 >&2) || die "go get $mod failed"
  step "$name"
  (cd "$src" && "$GO" build -trimpath -p "$JOBS" -ldflags "-s -w" -o "$OUT/$name" "$mod") \
    || die "building $name failed"
}
build_etcd_module go.etcd.io/etcd/server/v3 etcd
if [[ "$BUILD_ETCDCTL" == 1 ]]; then build_etcd_module go.etcd.io/etcd/etcdctl/v3 etcdctl; fi

# ---- kwok ---------------------------------------------------------------------------------
step kwok
(cd "$WORK" && GOBIN="$OUT" "$GO" install -trimpath -p "$JOBS" -ldflags "-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION") || die "building kwok failed"

stop_ticker

# ---- smoke check, stamp, publish ----------------------------------------------------------
check_version() { # $1 = binary, $2 = expected substring, rest = args
  local bin="$1" want="$2" got; shift 2
  got=$("$OUT/$bin" "$@" 2>&1) || die "$bin $* failed: $got"
  grep -qF -- "$want" <<<"$got" || die "$bin $* printed '$got', expected '$want'"
  log "ok: $bin $* -> $(head -n 1 <<<"$got")"
}
for cmd in "${K8S_CMDS[@]}"; do check_version "$cmd" "Kubernetes $K8S_VERSION" --version; done
check_version etcd "etcd Version: ${ETCD_VERSION#v}" --version
if [[ "$BUILD_ETCDCTL" == 1 ]]; then check_version etcdctl "etcdctl version: ${ETCD_VERSION#v}" version; fi
check_version kwok "${KWOK_VERSION#v}" --version

cp "$K8S_SRC/go.mod" "$OUT/kubernetes-wrapper.go.mod"   # record what was built
{
  echo "kubernetes=$K8S_VERSION"
  echo "staging=$STAGING_VERSION"
  echo "etcd=$ETCD_VERSION"
  echo "kwok=$KWOK_VERSION"
  echo "go=$GO_VERSION"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "seconds=$(( $(date +%s) - START ))"
} >"$OUT/VERSIONS"
if [[ "$BUILD_KUBECTL" == 1 ]]; then touch "$OUT/.kubectl-complete"; fi
if [[ "$BUILD_NODES" == 1 ]]; then printf '%s' "$NODES_STAMP" >"$OUT/.nodes-complete"; fi
touch "$OUT/.complete"   # written last

rm -rf "$BIN_DIR"        # a leftover without a stamp is never used; replace it
mv -T "$OUT" "$BIN_DIR"
log "done in $(( $(date +%s) - START ))s"
echo "$BIN_DIR"
