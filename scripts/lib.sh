# Shared by the scripts: paths and small helpers. Sourced, not run.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The checkout's own build folder unless one is chosen: cargo decides what to rebuild from file
# times, so two checkouts sharing one folder can each pick up the other's build of a crate.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TOOLS="${SHELFMARK_TOOLS_DIR:-$HOME/.cache/shelfmark/tools}"
export PATH="$TOOLS/bin:$HOME/.cargo/bin:$PATH"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
# apt-get's chatter (debconf's notes and the like) shown only when it fails.
apt_get() {
  local log
  log="$(mktemp)"
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get -y -qq "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    die "apt-get $* failed"
  fi
  rm -f "$log"
}
