#!/usr/bin/env bash
# Installs what building, running (and with --test, testing) Shelfmark needs and is missing:
# Debian packages, the UI's npm packages, tauri-driver. Idempotent; quick when all is there.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
want_test=false
[ "${1:-}" = "--test" ] && want_test=true

# Debian packages (TAURI-NOTES.md): WebKitGTK and friends to build and run the window,
# Xvfb and WebKitWebDriver to drive it in tests, a private D-Bus session bus to watch the
# notifications it asks the desktop to show, xdotool to answer the native file chooser (which
# WebDriver does not reach).
packages=(libwebkit2gtk-4.1-dev libgtk-3-dev libayatana-appindicator3-dev librsvg2-dev libssl-dev
  libxdo-dev build-essential pkg-config file curl ca-certificates)
$want_test && packages+=(xvfb xauth webkit2gtk-driver imagemagick fonts-dejavu-core git
  dbus-daemon dbus-bin xdotool)
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
# The UI's toolchain (Vite 6, Vitest 3) runs on Node.js 18 or later: Debian 12's 18.20 will do.
if command -v node >/dev/null; then
  node_major="$(node --version | sed 's/^v\([0-9]*\).*/\1/')"
  [ "${node_major:-0}" -ge 18 ] || die "Node.js $(node --version) is too old for the UI's build: \
it needs 18 or later (Debian 12's nodejs package, 18.20, works)"
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"

# The UI's packages, reinstalled only when the lock file changed.
stamp="$ROOT/ui/node_modules/.shelfmark-lock-stamp"
lock_sum="$(sha256sum "$ROOT/ui/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  say "installing the UI's npm packages"
  (cd "$ROOT/ui" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" >"$stamp"
fi

# tauri-driver, the WebDriver bridge to the real window (tests only).
if $want_test && ! command -v tauri-driver >/dev/null; then
  say "installing tauri-driver into $TOOLS"
  cargo install tauri-driver --locked --root "$TOOLS" --quiet
fi

# cargo-deb, which builds the server's Debian package: `make dist`, and the package check of
# `make test` (scripts/deb-check.sh). scripts/dist.sh installs it the same way when it runs alone.
if $want_test && ! command -v cargo-deb >/dev/null; then
  say "installing cargo-deb into $TOOLS"
  cargo install cargo-deb --version '^3' --locked --root "$TOOLS" --quiet
fi

# aiosmtpd (PyPI), the SMTP sink the server's mail tests deliver to on loopback (tests only),
# in a venv of its own; its command is linked into $TOOLS/bin.
if $want_test && [ ! -x "$TOOLS/bin/aiosmtpd" ]; then
  say "installing aiosmtpd into $TOOLS"
  command -v python3 >/dev/null || die "python3 not found: install it (Debian: python3 python3-venv)"
  mkdir -p "$TOOLS/bin"
  python3 -m venv "$TOOLS/aiosmtpd"
  "$TOOLS/aiosmtpd/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==1.4.*"
  ln -sf ../aiosmtpd/bin/aiosmtpd "$TOOLS/bin/aiosmtpd"
fi

# schemathesis (PyPI), the API fuzzer scripts/fuzz-api.sh runs against a real server (tests
# only), in a venv of its own like aiosmtpd; its command is linked into $TOOLS/bin.
if $want_test && [ ! -x "$TOOLS/bin/schemathesis" ]; then
  say "installing schemathesis into $TOOLS"
  command -v python3 >/dev/null || die "python3 not found: install it (Debian: python3 python3-venv)"
  mkdir -p "$TOOLS/bin"
  python3 -m venv "$TOOLS/schemathesis"
  "$TOOLS/schemathesis/bin/pip" install --quiet --disable-pip-version-check "schemathesis==4.*"
  ln -sf ../schemathesis/bin/schemathesis "$TOOLS/bin/schemathesis"
fi
