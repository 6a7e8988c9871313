#!/usr/bin/env bash
# The desktop app's Debian package, checked the way a desk's IT person uses it: build the .deb
# with the Tauri bundler (scripts/dist.sh --check desktop), install it with apt-get, check what
# it put where (the app and the `shelfmark` CLI in /usr/bin, a valid .desktop entry, the icons,
# WebKitGTK among its dependencies), drive the installed binary under Xvfb through a first run
# (tests/e2e/installed.rs: sign-in against a real server, the synced catalogue), then purge
# the package. It refuses to touch a `shelfmark` package it did not install itself.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
  say "the desktop .deb check needs Debian (apt-get, dpkg): skipped"
  exit 0
fi

pkg=shelfmark
marker=/var/tmp/shelfmark-desktop-deb-check.installed
installed() { dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed\|config-files"; }
purge() {
  if installed; then apt_get purge "$pkg"; fi
  as_root rm -f "$marker"
}
if [ -e "$marker" ]; then
  say "cleaning up after an earlier desktop .deb check that did not finish"
  purge
elif installed; then
  die "the $pkg package is on this machine and was not installed by this check, which would \
purge it: run the check on another machine"
fi

deb="$(bash scripts/dist.sh --check desktop)"
if ! command -v desktop-file-validate >/dev/null; then
  say "installing Debian packages: desktop-file-utils (for desktop-file-validate)"
  apt_get install --no-install-recommends desktop-file-utils
fi

trap 'if [ -e "$marker" ]; then purge; fi' EXIT
as_root touch "$marker"
say "installing $(basename "$deb")"
apt_get install "$deb"

for bin in /usr/bin/shelfmark-desktop /usr/bin/shelfmark; do
  [ -x "$bin" ] || die "the package installs no $bin"
done
/usr/bin/shelfmark --version >/dev/null || die "the packaged shelfmark CLI does not run"
entry="$(dpkg -L "$pkg" | grep '^/usr/share/applications/.*\.desktop$' | head -n 1)"
[ -n "$entry" ] || die "the package installs no .desktop entry"
desktop-file-validate "$entry" || die "desktop-file-validate refuses $entry"
grep -q '^Exec=shelfmark-desktop' "$entry" || die "$entry does not start shelfmark-desktop"
for size in 32x32 48x48 64x64 128x128 256x256 512x512; do
  [ -f "/usr/share/icons/hicolor/$size/apps/shelfmark-desktop.png" ] ||
    die "the package has no $size icon"
done
depends="$(dpkg-query -W -f='${Depends}' "$pkg")"
grep -q 'libwebkit2gtk-4.1-0' <<<"$depends" || die "the package does not depend on WebKitGTK: $depends"

say "the installed app under Xvfb: a first run's sign-in, then the synced catalogue"
SHELFMARK_INSTALLED_APP=/usr/bin/shelfmark-desktop cargo test --quiet -p shelfmark-tests \
  --test e2e -- --ignored --exact \
  installed::the_installed_app_asks_for_its_server_on_first_run_then_opens_on_the_synced_catalogue

say "the desktop .deb installs, its entry and icons are in place, the installed app signs in"
