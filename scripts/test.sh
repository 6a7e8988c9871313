#!/usr/bin/env bash
# `make test`: every check and every test. Installs what is missing first (setup.sh, and a
# PostgreSQL cluster for the server's tests), then: formatting, clippy, the UI's type check and
# Vitest tests, all Rust tests (unit, integration against SQLite and PostgreSQL), and the
# end-to-end tests that drive the real window under Xvfb.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
start=$SECONDS

bash scripts/setup.sh --test
if [ -f scripts/postgres.sh ] && [ -z "${SHELFMARK_TEST_POSTGRES_URL:-}" ]; then
  say "PostgreSQL for the server's tests"
  SHELFMARK_TEST_POSTGRES_URL="$(bash scripts/postgres.sh)"
  export SHELFMARK_TEST_POSTGRES_URL
fi

say "UI: type check, unit tests, build, with Debian 12's Node.js (the README's machine)"
(cd ui && bash ../scripts/debian-node.sh bash -c \
  'npm run --silent check && npm test --silent && npm run --silent build >/dev/null')

say "cargo fmt --check"
cargo fmt --all --check
say "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

say "building the binaries the end-to-end tests start"
cargo build -p shelfmark-server -p shelfmark-desktop -p shelfmark-cli
say "Rust tests"
cargo test --workspace --quiet
bash scripts/fuzz-api.sh  # every operation fuzzed against a real server, as manager and librarian
say "TypeScript bindings are those of the Rust types"
drift="$(git status --porcelain -- ui/src/lib/bindings)"
[ -z "$drift" ] || die "ui/src/lib/bindings differs from what the Rust types generate (commit it):
$drift"
say "end-to-end tests (real server, real window under Xvfb, WebDriver)"
cargo test --quiet -p shelfmark-tests --test e2e -- --ignored --test-threads=1 --skip installed::
bash scripts/desktop-deb-check.sh
bash scripts/deb-check.sh
say "all tests passed in $((SECONDS - start)) s; screenshots in ${SHELFMARK_SCREENSHOT_DIR:-target/e2e-screenshots}"
