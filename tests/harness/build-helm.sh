#!/usr/bin/env bash
# Build helm (helm.sh/helm/v3/cmd/helm) from the Go module proxy for the tests of gameday's
# Helm chart (deploy/helm/gameday): `helm lint` and `helm template`.
#
# Cached outside the repo, next to build-k8s.sh's binaries, keyed by every version in it:
#   ${GAMEDAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gameday}/bin/helm-<h>-go<g>/helm
# A `.complete` stamp is written last and the folder is renamed into place, so it is either
# complete or absent; when it exists the script only prints the folder. It takes the same lock
# as build-k8s.sh (bin/.lock): two Go builds at once on two cores only slow each other down.
# Progress goes to stderr; the only stdout line is the bin folder:
#   HELM="$(tests/harness/build-helm.sh | tail -1)/helm"
# See tests/harness/README.md.
set -euo pipefail

HELM_VERSION="${GAMEDAY_HELM_VERSION:-v3.22.0}"  # helm.sh/helm/v3
GO="${GAMEDAY_GO:-/usr/local/go/bin/go}"
JOBS="${GAMEDAY_BUILD_JOBS:-2}"                    # go build -p
CACHE_ROOT="${GAMEDAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gameday}"

[[ $# -eq 0 ]] || { echo "usage: build-helm.sh (no arguments; see the header)" >&2; exit 2; }

START=$(date +%s)
log() { printf '[%s +%4ss] build-helm: %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - START ))" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ -x "$GO" ]] || die "Go not found at $GO (set GAMEDAY_GO)"
[[ "$HELM_VERSION" =~ ^v3\.[0-9]+\.[0-9]+$ ]] || die "GAMEDAY_HELM_VERSION must look like v3.22.0"

# The same clean Go environment as build-k8s.sh, sharing its module and build caches.
export GOTOOLCHAIN=local          # a silent toolchain switch must fail loudly instead
export GO111MODULE=on GOWORK=off CGO_ENABLED=0
export GOFLAGS="-modcacherw -buildvcs=false"
export GOPATH="$CACHE_ROOT/go"
export GOMODCACHE="$CACHE_ROOT/go/mod"
export GOCACHE="$CACHE_ROOT/go/build-cache"
unset GOBIN GOOS GOARCH

GO_VERSION=$("$GO" env GOVERSION)  # e.g. go1.26.8
KEY="helm-${HELM_VERSION#v}-go${GO_VERSION#go}"
BIN_DIR="$CACHE_ROOT/bin/$KEY"

if [[ -f "$BIN_DIR/.complete" ]]; then
  echo "$BIN_DIR"
  exit 0
fi

mkdir -p "$CACHE_ROOT/bin" "$GOMODCACHE" "$GOCACHE"
exec 9>"$CACHE_ROOT/bin/.lock"
if ! flock -n 9; then
  log "another build holds $CACHE_ROOT/bin/.lock; waiting"
  flock 9
  log "got the lock after $(( $(date +%s) - START ))s"
  START=$(date +%s)
fi
if [[ -f "$BIN_DIR/.complete" ]]; then
  echo "$BIN_DIR"
  exit 0
fi

WORK=$(mktemp -d "$CACHE_ROOT/bin/.build-$KEY.XXXXXX")   # same filesystem as BIN_DIR: mv is atomic
TICKER=""
cleanup() {
  if [[ -n "$TICKER" ]]; then kill "$TICKER" 2>/dev/null || true; wait "$TICKER" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
OUT="$WORK/out"
mkdir -p "$OUT"

log "building $KEY (cache: $CACHE_ROOT, proxy $("$GO" env GOPROXY))"
MOD="helm.sh/helm/v3@$HELM_VERSION"
json=$(cd "$WORK" && "$GO" mod download -json "$MOD") || { printf '%s\n' "$json" >&2; die "go mod download $MOD failed"; }
GOMOD_FILE=$(jq -er .GoMod <<<"$json") || die "no GoMod in go mod download -json $MOD"
INFO_FILE=$(jq -er .Info <<<"$json") || die "no Info in go mod download -json $MOD"
# `go install pkg@version` refuses modules with replace directives; helm has none, and if a
# later version adds some this says why the install failed.
grep -qE '^[[:space:]]*replace' "$GOMOD_FILE" && log "warning: helm's go.mod has replace directives"

# Version stamping as helm's Makefile does for a release: the version, a clean tree, the commit
# the proxy recorded (when it did), and the Kubernetes version helm assumes without a cluster
# (its client-go's minor + 1.0, as the Makefile computes it).
CLIENT_GO=$(sed -nE 's#^[[:space:]]*k8s\.io/client-go[[:space:]]+v0\.([0-9]+)\..*#\1#p' "$GOMOD_FILE" | head -1)
[[ -n "$CLIENT_GO" ]] || die "no k8s.io/client-go requirement in $GOMOD_FILE"
COMMIT=$(jq -r '.Origin.Hash // empty' "$INFO_FILE" 2>/dev/null || true)
V=helm.sh/helm/v3/internal/version
FLAGS="-s -w -X $V.version=$HELM_VERSION -X $V.metadata= -X $V.gitTreeState=clean"
[[ -n "$COMMIT" ]] && FLAGS+=" -X $V.gitCommit=$COMMIT"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  FLAGS+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$CLIENT_GO"
done

log "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION (the build prints nothing for minutes)"
(
  trap 'kill "$nap" 2>/dev/null; exit 0' TERM
  while :; do
    sleep 30 & nap=$!
    wait "$nap"
    log "… still building helm"
  done
) >/dev/null &
TICKER=$!
(cd "$WORK" && GOBIN="$OUT" "$GO" install -trimpath -p "$JOBS" -ldflags "$FLAGS" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION") || die "building helm failed"
kill "$TICKER" 2>/dev/null || true
wait "$TICKER" 2>/dev/null || true
TICKER=""

got=$(HOME="$WORK" "$OUT/helm" version --template '{{.Version}} {{.GitTreeState}}' 2>&1) ||
  die "helm version failed: $got"
[[ "$got" == "$HELM_VERSION clean" ]] || die "helm version printed '$got', expected '$HELM_VERSION clean'"
log "ok: helm version -> $got"

{
  echo "helm=$HELM_VERSION"
  echo "commit=${COMMIT:-unknown}"
  echo "kubernetes-assumed=1.$CLIENT_GO"
  echo "go=$GO_VERSION"
  echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "seconds=$(( $(date +%s) - START ))"
} >"$OUT/VERSIONS"
touch "$OUT/.complete"   # written last
rm -rf "$BIN_DIR"        # a leftover without a stamp is never used; replace it
mv -T "$OUT" "$BIN_DIR"
log "done in $(( $(date +%s) - START ))s"
echo "$BIN_DIR"
