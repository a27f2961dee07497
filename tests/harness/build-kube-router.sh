#!/usr/bin/env bash
# Build kube-router (github.com/cloudnativelabs/kube-router/v2) from the Go module proxy: the
# NetworkPolicy enforcer of the real test nodes (tests/harness/real-node.sh runs only its firewall
# controller, in each node's own network namespace), so that a gameday network-partition really
# stops traffic.
#
# Why kube-router: it is a maintained enforcer that needs only iptables and ipset, both of which
# work inside a node's network namespace here, and it builds with CGO_ENABLED=0 from the proxy.
# kube-network-policies (sigs.k8s.io) needs nftables' NFQUEUE, which this kernel lacks; Calico,
# Cilium and Antrea need their own datapaths, CRDs or eBPF. The proxy serves only v2.1.0, for which
# security advisories exist; here it runs with test credentials inside a throwaway node namespace
# on a machine whose pods cannot reach anything outside 198.18.0.0/15, and nothing else uses it.
#
# Cached next to build-k8s.sh's binaries, keyed by its version and Go's:
#   ${GAMEDAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gameday}/bin/kube-router-<v>-go<g>/kube-router
# with a `.complete` stamp written last (the folder is renamed into place). It takes the same lock
# as build-k8s.sh and build-helm.sh. The only stdout line is the bin folder.
set -euo pipefail

VERSION="${GAMEDAY_KUBE_ROUTER_VERSION:-v2.1.0}"
GO="${GAMEDAY_GO:-/usr/local/go/bin/go}"
JOBS="${GAMEDAY_BUILD_JOBS:-2}"
CACHE_ROOT="${GAMEDAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gameday}"
MODULE=github.com/cloudnativelabs/kube-router/v2

START=$(date +%s)
log() { printf '[%s +%4ss] build-kube-router: %s\n' "$(date +%H:%M:%S)" "$(($(date +%s) - START))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[[ -x "$GO" ]] || die "Go not found at $GO (set GAMEDAY_GO)"
[[ "$VERSION" =~ ^v2\.[0-9]+\.[0-9]+$ ]] || die "GAMEDAY_KUBE_ROUTER_VERSION must look like v2.1.0"

export GOTOOLCHAIN=local GO111MODULE=on GOWORK=off CGO_ENABLED=0
export GOFLAGS="-modcacherw -buildvcs=false"
export GOPATH="$CACHE_ROOT/go" GOMODCACHE="$CACHE_ROOT/go/mod" GOCACHE="$CACHE_ROOT/go/build-cache"
unset GOBIN GOOS GOARCH

GO_VERSION=$("$GO" env GOVERSION)
BIN_DIR="$CACHE_ROOT/bin/kube-router-${VERSION#v}-go${GO_VERSION#go}"
if [[ -f "$BIN_DIR/.complete" ]]; then
  echo "$BIN_DIR"
  exit 0
fi
mkdir -p "$CACHE_ROOT/bin" "$GOMODCACHE" "$GOCACHE"
exec 9>"$CACHE_ROOT/bin/.lock"
flock 9
if [[ -f "$BIN_DIR/.complete" ]]; then
  echo "$BIN_DIR"
  exit 0
fi
WORK=$(mktemp -d "$CACHE_ROOT/bin/.build-kube-router.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/src" "$WORK/out"
# A wrapper module, so that kube-router's own go.mod pins every dependency.
printf 'module gameday.local/build/kube-router\n\ngo %s\n' "${GO_VERSION#go}" >"$WORK/src/go.mod"
log "building $MODULE@$VERSION (cache: $CACHE_ROOT)"
(cd "$WORK/src" && "$GO" get "$MODULE/cmd/kube-router@$VERSION" 2>&1 | tail -n 20 >&2) || die "go get failed"
(cd "$WORK/src" && "$GO" build -trimpath -p "$JOBS" -ldflags "-s -w" \
    -o "$WORK/out/kube-router" "$MODULE/cmd/kube-router") || die "building kube-router failed"
"$WORK/out/kube-router" --help >/dev/null 2>&1 || die "kube-router --help failed"
printf 'kube-router=%s\ngo=%s\n' "$VERSION" "$GO_VERSION" >"$WORK/out/VERSIONS"
touch "$WORK/out/.complete"
rm -rf "$BIN_DIR"
mv -T "$WORK/out" "$BIN_DIR"
log "done in $(($(date +%s) - START))s"
echo "$BIN_DIR"
