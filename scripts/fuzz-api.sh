#!/usr/bin/env bash
# The API fuzz run: schemathesis (scripts/setup.sh --test installs it) against a freshly
# started shelfmark-server (the debug binary, demo data, a temporary SQLite database, a free
# loopback port), driven by the OpenAPI document the server itself serves. Every operation is
# tried as the demo manager and as the demo librarian, and every answer must be no 5xx, have a
# status the document lists for that operation, and match the document's schema.
#
# Bounded for a small machine: FUZZ_MAX_EXAMPLES test cases per operation and phase
# (default 50: about 1.5 minutes on two busy cores, some 10,000 requests). FUZZ_SEED repeats a run.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

max_examples="${FUZZ_MAX_EXAMPLES:-50}"
seed="${FUZZ_SEED:-$RANDOM}"
command -v schemathesis >/dev/null || bash scripts/setup.sh --test
command -v schemathesis >/dev/null || die "schemathesis is not installed (scripts/setup.sh --test)"
bin="$CARGO_TARGET_DIR/debug/shelfmark-server"
[ -x "$bin" ] || cargo build -p shelfmark-server --quiet

work="$(mktemp -d)"
server_pid=""
stop() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop EXIT INT TERM

SHELFMARK_DEMO_PASSWORD="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
export SHELFMARK_DEMO_PASSWORD
say "starting shelfmark-server with demo data on a temporary database"
SHELFMARK_CONFIG=/dev/null "$bin" --listen 127.0.0.1:0 --database "sqlite://$work/server.db" --demo \
  >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
url=""
for _ in $(seq 1 600); do
  url="$(sed -n 's/^shelfmark-server listening on //p' "$work/server.out" | head -n 1)"
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "the server stopped at start-up"; }
  sleep 0.1
done
[ -n "$url" ] || die "the server did not start within 60 s"

# A bearer token of a demo user.
token_of() {
  curl -fsS -X POST "$url/v1/sessions" -H 'Content-Type: application/json' \
    --data "{\"username\": \"$1\", \"password\": \"$SHELFMARK_DEMO_PASSWORD\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

checks=not_a_server_error,status_code_conformance,response_schema_conformance
fuzz() {
  local who="$1"
  shift
  say "fuzzing every operation as $who (seed $seed, $max_examples examples per operation)"
  # Run from the temporary folder: schemathesis keeps its caches in the working directory.
  # One worker: with two threads, Python 3.11's ast module (hypothesis describing its
  # strategies) fails now and then with "AST constructor recursion depth mismatch".
  (cd "$work" && schemathesis run "$url/v1/openapi.json" \
    --checks "$checks" \
    --header "Authorization: Bearer $(token_of "$who")" \
    --phases examples,coverage,fuzzing \
    --max-examples "$max_examples" --seed "$seed" --workers 1 \
    --request-timeout 30 --no-color --generation-database none \
    "$@") || {
    tail -n 50 "$work/server.log" >&2
    die "the API fuzz run as $who failed (seed $seed; the server's log above)"
  }
}

# Signing out ends the run's own token: that operation is fuzzed last, on a token of its own.
fuzz manager --exclude-path /v1/sessions/current
fuzz librarian --exclude-path /v1/sessions/current
fuzz librarian --include-path /v1/sessions/current
kill -0 "$server_pid" 2>/dev/null || die "the server stopped during the fuzz run"
say "API fuzz run passed"
