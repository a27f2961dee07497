#!/usr/bin/env bash
# A clean Debian 12 root for installing gameday's package as a user would (test gameday_deb):
# `debootstrap --variant=minbase bookworm` plus, downloaded but NOT installed, the packages that
# `apt install ./gameday_*.deb` needs (its Depends, resolved by apt inside the root), so the test
# itself runs with no network. Cached as a tarball keyed by the suite and the package's Depends
# line; built when missing (network: the Debian mirror, like scripts/setup.sh).
# Usage: build-clean-root.sh DEB        prints the tarball's path as its last line
# Env: GAMEDAY_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/gameday),
#      GAMEDAY_DEBIAN_MIRROR (default http://deb.debian.org/debian),
#      GAMEDAY_RESOLV_CONF (the resolver file apt in the root uses while downloading; default the
#      machine's, /etc/resolv.conf)
set -euo pipefail
deb=$(realpath "$1")
suite=bookworm
mirror=${GAMEDAY_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${GAMEDAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gameday}
depends=$(dpkg-deb -f "$deb" Depends)
key=$(printf '%s\n%s\n' "$suite" "$depends" | sha256sum | cut -c1-16)
out="$cache/debian/$suite-minbase-$key.tar"
if [ -f "$out" ]; then
  echo "$out"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "build-clean-root: debootstrap is missing (scripts/setup.sh installs it)" >&2; exit 1; }
mkdir -p "$cache/debian"
exec 9>"$cache/debian/.lock"
flock 9
if [ -f "$out" ]; then
  echo "$out"
  exit 0
fi
work=$(mktemp -d "$cache/debian/.build-XXXXXX")
root="$work/root"
resolv=${GAMEDAY_RESOLV_CONF:-/etc/resolv.conf}
# The package as apt inside the root sees it, and where that is from outside.
inside_deb="/tmp/$(basename "$deb")"
mounted=()
cleanup() {
  for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
start=$(date +%s)
echo "build-clean-root: debootstrap $suite (minbase) from $mirror" >&2
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  exit 1
}
# Download (not install) what the package depends on, resolved by apt in the root itself.
cp "$resolv" "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mounted+=("$root/proc")
cp "$deb" "$root$inside_deb"
chroot "$root" apt-get update -qq
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --download-only \
  "$inside_deb" >"$work/download.log" 2>&1 || {
  tail -20 "$work/download.log" >&2
  exit 1
}
umount "$root/proc"
mounted=()
rm -f "$root$inside_deb" "$root/etc/resolv.conf"
tar -C "$root" -cf "$work/root.tar" .
mv "$work/root.tar" "$out"
echo "build-clean-root: $out ($(du -h "$out" | cut -f1)) in $(($(date +%s) - start)) s" >&2
echo "$out"
