#!/usr/bin/env bash
# Runs a command (the UI's check, tests and build) with Debian 12's own Node.js, the one a fresh
# Debian 12 machine installs (18.20), so the tests prove the README's promise even on a machine
# that has a newer Node.js. Usage: bash scripts/debian-node.sh npm run build
#
# When `node` already is Debian 12's, the command simply runs. Otherwise Debian's packages
# (nodejs, libnode108 and the few libraries and modules it links) are fetched with
# `apt-get download` and unpacked into a private folder; nothing is installed on the system.
# Debian's Node.js loads some built-in modules (acorn, undici, cjs-module-lexer) from
# /usr/share/nodejs, so the command runs in a private mount namespace where the unpacked
# /usr/share is laid over the system's (an overlay nobody else sees).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ $# -gt 0 ] || die "usage: debian-node.sh COMMAND..."

if node --version 2>/dev/null | grep -q '^v18\.' && [ -d /usr/share/nodejs/undici ]; then
  exec "$@" # this is Debian's Node.js 18
fi

dir="$TOOLS/debian12-node"
if [ ! -x "$dir/root/usr/bin/node" ]; then
  command -v apt-get >/dev/null || die "apt-get not found: Debian 12's Node.js cannot be fetched"
  # nodejs and libnode108 at Debian 12's version, whatever else the machine has installed.
  version() { apt-cache madison "$1" | awk -F' [|] ' '$2 ~ /deb12|~bpo12|^18\./ {print $2; exit}'; }
  if [ -z "$(version nodejs)" ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  fi
  node_v="$(version nodejs)"
  [ -n "$node_v" ] || die "no Debian 12 nodejs package in apt's sources (is this Debian 12?)"
  say "fetching Debian 12's Node.js $node_v into $dir (to build the UI with it)"
  rm -rf "$dir" && mkdir -p "$dir/debs"
  # apt-get download writes into the current folder; _apt may not write there, hence the chmod.
  chmod 777 "$dir/debs"
  (cd "$dir/debs" && apt-get download -qq "nodejs=$node_v" "libnode108=$node_v" \
    libuv1 libc-ares2 node-acorn node-cjs-module-lexer node-undici 2>&1 | grep -v '^W:' || true)
  for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
  [ -x "$dir/root/usr/bin/node" ] || die "Debian 12's nodejs package did not unpack into $dir"
fi

ns=(unshare --map-root-user --mount)
"${ns[@]}" true 2>/dev/null || ns=(as_root unshare --mount)
root="$dir/root"
"${ns[@]}" bash -c '
  set -e
  mount -t overlay overlay -o "lowerdir=$1/usr/share:/usr/share" /usr/share
  export LD_LIBRARY_PATH="$(echo "$1"/usr/lib/*-linux-gnu)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export PATH="$1/usr/bin:$PATH"
  shift
  printf "\033[1m==> with Debian 12'"'"'s Node.js %s: %s\033[0m\n" "$(node --version)" "$*" >&2
  exec "$@"
' bash "$root" "$@"
