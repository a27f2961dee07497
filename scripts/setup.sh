#!/usr/bin/env bash
# Installs every Debian package gameday needs to build, run its sandbox and run its tests.
# Idempotent; needs root (or sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

packages=(
  # build
  build-essential cmake ninja-build pkg-config git
  libcurl4-openssl-dev libssh2-1-dev rapidjson-dev libyaml-cpp-dev libpoco-dev libcli11-dev
  libgtest-dev googletest clang-format clang-tidy libre2-dev
  libyaml-dev  # bounds-checks YAML before yaml-cpp loads it (experiments/yaml_guard.h)
  clang libclang-rt-14-dev  # libFuzzer targets (tests/fuzz)
  # sandbox and test bed
  haproxy runit openssh-server openssh-client iptables iproute2 procps psmisc openssl curl
  etcd-server etcd-client prometheus prometheus-pushgateway
  jq  # Kubernetes test plane: tests/harness/build-k8s.sh and k8s-plane.sh
  # real test nodes (tests/harness/real-node.sh): containerd's runtime, the bridge CNI, what
  # kube-proxy calls (conntrack; ipset for NetworkPolicy enforcers), nsenter/unshare
  runc containernetworking-plugins conntrack ipset util-linux
  # browser tests
  chromium
  # the Debian package's test (packaging/deb_test.sh): a clean root to install it in
  debootstrap
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts some of these as system services on install; gameday runs its own instances.
for svc in ssh haproxy etcd prometheus prometheus-pushgateway prometheus-node-exporter runit; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl stop "$svc" || true
    $SUDO systemctl disable "$svc" >/dev/null 2>&1 || true
  fi
done
echo "setup: all packages present"
