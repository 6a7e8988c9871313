#!/usr/bin/env bash
# `make dist`: the library server's Debian package, shelfmark-server_<version>-1_<arch>.deb, in
# $CARGO_TARGET_DIR/debian/ (target/debian/ in a checkout), built with the `release` profile
# (fat LTO, one codegen unit: several minutes, the binary that ships). Prints the .deb's path on
# stdout. `scripts/dist.sh --check` builds the same package with the `dist-check` profile (no
# LTO, no optimisation but for password hashing; root Cargo.toml) into
# $CARGO_TARGET_DIR/debian-check/: the quicker build the package check of `make test` installs
# (scripts/deb-check.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

profile=release
out="$CARGO_TARGET_DIR/debian"
fast=()
if [ "${1:-}" = "--check" ]; then
  profile=dist-check
  out="$CARGO_TARGET_DIR/debian-check"
  fast=(--fast) # lighter compression: the package goes no further than this machine
fi

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"
# dpkg-shlibdeps (dpkg-dev) works out the package's Depends; strip (binutils) shrinks the binary.
missing=()
for p in dpkg-dev binutils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
# cargo-deb, as scripts/setup.sh installs it for `make test`.
if ! command -v cargo-deb >/dev/null; then
  say "installing cargo-deb into $TOOLS"
  cargo install cargo-deb --version '^3' --locked --root "$TOOLS" --quiet
fi

say "building the server's .deb (profile $profile) into $out"
mkdir -p "$out"
deb="$(cargo deb -p shelfmark-server --profile "$profile" "${fast[@]}" --output "$out/")"
deb="$(printf '%s\n' "$deb" | tail -n 1)"
[ -f "$deb" ] || die "cargo deb did not say where the package is (got: $deb)"
echo "$deb"
