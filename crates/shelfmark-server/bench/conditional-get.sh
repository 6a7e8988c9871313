#!/usr/bin/env bash
# Benchmark: authenticated conditional GETs answered 304 by shelfmark-server, side by side in
# one run with nginx answering 304 for a static file with an ETag. Loopback only, bounded runs.
#
#   crates/shelfmark-server/bench/conditional-get.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]
#
# The three targets are measured in turn, ROUNDS times (default 3), and the medians reported,
# so that a change in the machine's load during the run weighs on all of them alike.
#
# Needs wrk and nginx (Debian: apt-get install -y wrk nginx) and a release build
# (cargo build --release -p shelfmark-server; CARGO_TARGET_DIR is honoured).
# SHELFMARK_BENCH_DATABASE_URL picks the database (default: a fresh SQLite file).
set -euo pipefail

DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
ROUNDS="${3:-3}"
THREADS="${WRK_THREADS:-2}"
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
SERVER="$TARGET/release/shelfmark-server"
[ -x "$SERVER" ] || { echo "build first: cargo build --release -p shelfmark-server" >&2; exit 1; }
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "needs wrk and nginx" >&2; exit 1; }

WORK="$(mktemp -d)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- nginx: a static JSON file of the size of a book record, with nginx's own ETag.
NGINX_PORT="$(free_port)"
mkdir -p "$WORK/www"
head -c 700 /dev/zero | tr '\0' 'x' > "$WORK/www/book.json"
chmod 644 "$WORK/www/book.json"
cat > "$WORK/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $WORK/nginx.pid;
error_log stderr warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/tmp;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $WORK/www;
  }
}
CONF
mkdir -p "$WORK/tmp"
nginx -c "$WORK/nginx.conf" -p "$WORK" &
PIDS+=($!)

# --- shelfmark-server with the demo library.
export SHELFMARK_DEMO_PASSWORD=bench-password
DB="${SHELFMARK_BENCH_DATABASE_URL:-sqlite://$WORK/bench.db}"
RUST_LOG=warn "$SERVER" --listen 127.0.0.1:0 --database "$DB" --demo > "$WORK/server.out" 2> "$WORK/server.err" &
PIDS+=($!)
for _ in $(seq 1 300); do grep -q listening "$WORK/server.out" 2>/dev/null && break; sleep 0.1; done
BASE="$(sed -n 's/^shelfmark-server listening on //p' "$WORK/server.out")"
[ -n "$BASE" ] || { cat "$WORK/server.err" >&2; exit 1; }
for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$NGINX_PORT/book.json" && break; sleep 0.1; done

TOKEN="$(curl -fs -X POST "$BASE/v1/sessions" -H 'content-type: application/json' \
  -d '{"username":"librarian","password":"bench-password"}' | python3 -c 'import sys,json; print(json.load(sys.stdin)["token"])')"
BOOK_ID="$(curl -fs "$BASE/v1/books?limit=1" -H "Authorization: Bearer $TOKEN" | python3 -c 'import sys,json; print(json.load(sys.stdin)["items"][0]["id"])')"
BOOK_ETAG="$(curl -fsI "$BASE/v1/books/$BOOK_ID" -H "Authorization: Bearer $TOKEN" | tr -d '\r' | sed -n 's/^etag: //ip')"
FEED_ETAG="$(curl -fsI "$BASE/v1/changes?since=0&limit=1" -H "Authorization: Bearer $TOKEN" | tr -d '\r' | sed -n 's/^etag: //ip')"
NGINX_ETAG="$(curl -fsI "http://127.0.0.1:$NGINX_PORT/book.json" | tr -d '\r' | sed -n 's/^etag: //ip')"

check_304() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' "$@")"
  [ "$code" = 304 ] || { echo "expected 304, got $code for $*" >&2; exit 1; }
}
check_304 "$BASE/v1/books/$BOOK_ID" -H "Authorization: Bearer $TOKEN" -H "If-None-Match: $BOOK_ETAG"
check_304 "$BASE/v1/changes?since=0" -H "Authorization: Bearer $TOKEN" -H "If-None-Match: $FEED_ETAG"
check_304 "http://127.0.0.1:$NGINX_PORT/book.json" -H "If-None-Match: $NGINX_ETAG"

rate() { # prints requests/s from wrk's output, after checking every answer was a 304
  local out
  out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@")"
  echo "$out" >&2
  if echo "$out" | grep -q 'Non-2xx or 3xx'; then echo "some answers were not 304" >&2; exit 1; fi
  echo "$out" | sed -n 's/^Requests\/sec: *//p'
}

NGINX_RATES=(); BOOK_RATES=(); FEED_RATES=()
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round: nginx, static file, If-None-Match -> 304" >&2
  NGINX_RATES+=("$(rate -H "If-None-Match: $NGINX_ETAG" "http://127.0.0.1:$NGINX_PORT/book.json")")
  echo "== round $round: shelfmark-server, GET /v1/books/{id}, Bearer + If-None-Match -> 304" >&2
  BOOK_RATES+=("$(rate -H "Authorization: Bearer $TOKEN" -H "If-None-Match: $BOOK_ETAG" "$BASE/v1/books/$BOOK_ID")")
  echo "== round $round: shelfmark-server, GET /v1/changes, Bearer + If-None-Match -> 304" >&2
  FEED_RATES+=("$(rate -H "Authorization: Bearer $TOKEN" -H "If-None-Match: $FEED_ETAG" "$BASE/v1/changes?since=0")")
done

python3 - "$DB" "${NGINX_RATES[*]}" "${BOOK_RATES[*]}" "${FEED_RATES[*]}" <<'PY'
import statistics, sys
db = sys.argv[1]
nginx, book, feed = ([float(x) for x in a.split()] for a in sys.argv[2:5])
backend = "PostgreSQL" if db.startswith("postgres") else "SQLite"
n, b, f = statistics.median(nginx), statistics.median(book), statistics.median(feed)
fmt = lambda xs: ", ".join(f"{x:.0f}" for x in xs)
print(f"nginx static 304:                 {n:10.0f} req/s  (rounds: {fmt(nginx)})")
print(f"server GET /v1/books/{{id}} 304:    {b:10.0f} req/s  {100 * b / n:3.0f}% of nginx, {backend} (rounds: {fmt(book)})")
print(f"server GET /v1/changes 304:       {f:10.0f} req/s  {100 * f / n:3.0f}% of nginx, {backend} (rounds: {fmt(feed)})")
PY
