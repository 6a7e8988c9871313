#!/usr/bin/env bash
# `make dist`: the Debian packages, each built with the `release` profile (fat LTO, one codegen
# unit: several minutes, the binaries that ship), their paths printed on stdout, one a line:
# - server: shelfmark-server_<version>-1_<arch>.deb (cargo-deb, with its systemd unit), in
#   $CARGO_TARGET_DIR/debian/ (target/debian/ in a checkout);
# - desktop: shelfmark_<version>_<arch>.deb (the Tauri bundler: the app, its .desktop entry and
#   icons, the `shelfmark` CLI, WebKitGTK's runtime packages as dependencies), in
#   $CARGO_TARGET_DIR/release/bundle/deb/.
# `scripts/dist.sh [--check] [server] [desktop]` builds only those named. With --check, the
# quicker builds the package checks of `make test` install: the server with the `dist-check`
# profile (no LTO, no optimisation but for password hashing; root Cargo.toml) into
# $CARGO_TARGET_DIR/debian-check/, the desktop app with the dev profile (the build the
# end-to-end tests already made) into $CARGO_TARGET_DIR/debug/bundle/deb/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

check=false
parts=()
for arg in "$@"; do
  case "$arg" in
    --check) check=true ;;
    server | desktop) parts+=("$arg") ;;
    *) die "unknown argument $arg (expected --check, server, desktop)" ;;
  esac
done
[ ${#parts[@]} -gt 0 ] || parts=(server desktop)

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"
# dpkg-shlibdeps (dpkg-dev) works out the packages' Depends; strip (binutils) shrinks binaries.
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

server_deb() {
  local profile=release out="$CARGO_TARGET_DIR/debian" fast=() deb
  if $check; then
    profile=dist-check
    out="$CARGO_TARGET_DIR/debian-check"
    fast=(--fast) # lighter compression: the package goes no further than this machine
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
}

desktop_deb() {
  local dir=release cargo_profile=(--release) tauri_profile=() version arch deb
  if $check; then
    dir=debug
    cargo_profile=()
    tauri_profile=(--debug)
  fi
  # WebKitGTK's headers, the UI's npm packages (the Tauri CLI among them, pinned in
  # ui/package.json): what building the window needs.
  bash scripts/setup.sh >&2
  say "building the UI"
  (cd ui && npm run --silent build >/dev/null)
  say "building the shelfmark CLI ($dir) for the desktop package"
  cargo build --quiet "${cargo_profile[@]}" -p shelfmark-cli
  # tauri.conf.json's bundle.linux.deb.files takes it from here into /usr/bin.
  mkdir -p src-tauri/dist
  cp "$CARGO_TARGET_DIR/$dir/shelfmark" src-tauri/dist/shelfmark
  say "building the desktop app's .deb ($dir) with the Tauri bundler"
  version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' src-tauri/tauri.conf.json)"
  arch="$(dpkg --print-architecture)"
  deb="$CARGO_TARGET_DIR/$dir/bundle/deb/Shelfmark_${version}_${arch}.deb"
  rm -f "$deb"
  TAURI_APP_PATH=src-tauri TAURI_FRONTEND_PATH=ui \
    ui/node_modules/.bin/tauri build "${tauri_profile[@]}" --bundles deb >&2
  [ -f "$deb" ] || die "the Tauri bundler made no $deb"
  echo "$deb"
}

for part in "${parts[@]}"; do
  "${part}_deb"
done
