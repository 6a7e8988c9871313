#!/usr/bin/env bash
# `make run`: builds the UI and the app, starts shelfmark-server on an embedded SQLite database
# with demo data on a free loopback port, and opens the desktop window signed in to it as the
# demo librarian. Closing the window stops the server.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  cat >&2 <<'MSG'
Shelfmark opens a desktop window, and this session has no display (neither DISPLAY nor
WAYLAND_DISPLAY is set). On a machine without a screen, run it under a virtual display:

    Xvfb :99 -screen 0 1280x800x24 -nolisten tcp &
    DISPLAY=:99 make run

(then look at it with, for example, `DISPLAY=:99 import -window root shot.png`).
MSG
  exit 2
fi

bash "$ROOT/scripts/setup.sh"
say "building the UI"
(cd "$ROOT/ui" && npm run --silent build >/dev/null)
say "building the server and the app into $CARGO_TARGET_DIR (the first build takes several minutes)"
# The same packages as `make test` builds, so cargo unifies the same features and reuses it.
cargo build -p shelfmark-server -p shelfmark-desktop -p shelfmark-cli
bin="$CARGO_TARGET_DIR/debug"

# The demo library lives in its own folder, kept between runs.
demo_dir="${SHELFMARK_DEMO_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/shelfmark-demo}"
mkdir -p "$demo_dir"
if [ -z "${SHELFMARK_DEMO_PASSWORD:-}" ]; then
  # Chosen once, when the demo database is first seeded, and kept with it.
  if [ ! -s "$demo_dir/demo-password" ]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$demo_dir/demo-password")
  fi
  SHELFMARK_DEMO_PASSWORD="$(cat "$demo_dir/demo-password")"
fi
export SHELFMARK_DEMO_PASSWORD

log="$demo_dir/server.log"
say "starting shelfmark-server with demo data ($demo_dir)"
# The demo is self-contained: no settings from an installed server's /etc/shelfmark/server.toml.
SHELFMARK_CONFIG=/dev/null "$bin/shelfmark-server" --listen 127.0.0.1:0 --database "sqlite://$demo_dir/server.db" --demo \
  >"$demo_dir/server.out" 2>"$log" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true' EXIT INT TERM

url=""
for _ in $(seq 1 600); do
  url="$(sed -n 's/^shelfmark-server listening on //p' "$demo_dir/server.out" | head -n 1)"
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; die "the server stopped at start-up (log above)"; }
  sleep 0.1
done
[ -n "$url" ] || die "the server did not start within 60 s (see $log)"
say "server at $url; users librarian and manager, password in $demo_dir/demo-password"

SHELFMARK_SERVER_URL="$url" SHELFMARK_USERNAME=librarian \
  SHELFMARK_PASSWORD="$SHELFMARK_DEMO_PASSWORD" SHELFMARK_DATA_DIR="$demo_dir/app" \
  "$bin/shelfmark-desktop"
