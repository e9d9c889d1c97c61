#!/usr/bin/env bash
# Checkout benchmark (wrk, apt-get install wrk) against a release build of
# `bazaar api` + worker: "buy now" checkouts of one unit, cash on delivery,
# by 50 customers with fresh Idempotency-Keys,
#   1. spread over 10,000 distinct variants (no contention), and
#   2. all on one hot variant (every checkout updates the same row).
# ROLE=api runs the API alone (the mails wait in the outbox).
# Afterwards it checks that no unit was oversold: for every variant,
# reserved = units in pending orders and reserved <= stock.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ops/scripts/services.sh
command -v wrk >/dev/null || { echo "install wrk first: apt-get install -y wrk" >&2; exit 1; }
# BAZAAR_BIN measures another build (e.g. the previous commit's, for a
# before/after comparison); by default this checkout's release build.
if [ -z "${BAZAAR_BIN:-}" ]; then
  cargo build --release --locked
  BAZAAR_BIN=./target/release/bazaar
fi
duration="${DURATION:-15s}"
conns="${CONNECTIONS:-64}"
db="bazaar_bench_checkout"
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export BAZAAR_BIND=127.0.0.1:18081 LOG_FORMAT=json RUST_LOG=warn ACCESS_TOKEN_TTL_SECS=3600
export JWT_SECRET=bench-secret-bench-secret-bench-secret REDIS_PREFIX="benchco$$"
export RATE_LIMIT_LOGIN_PER_IP=100000
"$BAZAAR_BIN" seed --products 4000 >/dev/null
sql() { psql -h 127.0.0.1 -U postgres -d "$db" -tAc "$1"; }
sql "UPDATE variants SET stock = 1000000, reserved = 0" >/dev/null
work=$(mktemp -d)
sql "SELECT id FROM variants WHERE active AND price > 0 ORDER BY random() LIMIT 10000" > "$work/variants"
sql "SELECT id FROM variants WHERE active AND price > 0 LIMIT 1" > "$work/hot"
shipping=$(sql "SELECT id FROM shipping_methods ORDER BY price LIMIT 1")
# ROLE=api measures checkout alone: its jobs (confirmation mails) wait in the
# outbox until a worker runs. The default, all, includes that worker.
"$BAZAAR_BIN" "${ROLE:-all}" > "$work/bazaar.log" 2>&1 &
app=$!
trap 'kill $app 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 300); do curl -sf "http://$BAZAAR_BIND/health/ready" >/dev/null && break; sleep 0.1; done
for i in $(seq 1 50); do
  # The body ends without a newline: add one per token.
  { curl -sf -X POST "http://$BAZAAR_BIND/api/v1/auth/register" -H 'content-type: application/json' \
      -d "{\"email\":\"bench$i@example.com\",\"password\":\"bench-password-1\",\"name\":\"Bench $i\",\"role\":\"customer\"}" \
      | sed -E 's/.*"access_token":"([^"]+)".*/\1/'; echo; } >> "$work/tokens"
done
# One checkout by hand first, so a broken set-up fails loudly here.
curl -sf -o /dev/null -X POST "http://$BAZAAR_BIND/api/v1/checkout" -H 'content-type: application/json' \
  -H "authorization: Bearer $(head -1 "$work/tokens")" -H "idempotency-key: bench-probe-$$" \
  -d "{\"items\":[{\"variant_id\":\"$(head -1 "$work/variants")\",\"quantity\":1}],\"shipping_method_id\":\"$shipping\",\"payment_method\":\"cash_on_delivery\",\"phone\":\"+77011234567\",\"address\":{\"name\":\"Bench\",\"line1\":\"Abay 1\",\"city\":\"Almaty\",\"postal_code\":\"050000\",\"country\":\"KZ\"}}" \
  || { echo "a checkout by hand failed" >&2; exit 1; }
echo "variants: $(wc -l < "$work/variants"), customers: $(wc -l < "$work/tokens")"
# This machine's write speed varies by the hour (pgbench TPC-B from 1,188 to
# 2,901 tps at 16 clients on the same day): the yardstick is printed before
# the checkouts and after, so figures from different hours can be compared.
# YARDSTICK=0 skips it.
yardstick() {
  [ "${YARDSTICK:-1}" = 0 ] && return
  local pgb=bazaar_bench_yardstick
  if ! psql -h 127.0.0.1 -U postgres -d "$pgb" -tAc "SELECT 1 FROM pgbench_branches LIMIT 1" >/dev/null 2>&1; then
    PGOPTIONS="-c client_min_messages=warning" psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $pgb" -c "CREATE DATABASE $pgb" >/dev/null
    pgbench -h 127.0.0.1 -U postgres -i -s 10 -q "$pgb" >/dev/null 2>&1
  fi
  echo "== yardstick ($1): pgbench TPC-B, 16 clients, 10 s: $(pgbench -h 127.0.0.1 -U postgres -c 16 -j 2 -T 10 "$pgb" 2>/dev/null \
    | sed -nE 's/^tps = ([0-9]+).*/\1/p') tps"
}
yardstick before
run() {
  local name=$1 file=$2
  echo "== $name: $conns connections, $duration"
  VARIANTS_FILE=$file TOKENS_FILE="$work/tokens" SHIPPING_METHOD_ID=$shipping \
    wrk -t2 -c"$conns" -d"$duration" --latency -s ops/scripts/bench-checkout.lua \
    "http://$BAZAAR_BIND" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors"
}
run "distinct variants (no contention)" "$work/variants"
run "one hot variant (full contention)" "$work/hot"
yardstick after
echo "== books"
sql "SELECT count(*) || ' orders, ' || sum(total) || ' total' FROM orders"
bad=$(sql "SELECT count(*) FROM variants v WHERE v.reserved > v.stock OR v.reserved <>
        COALESCE((SELECT sum(i.quantity) FROM order_items i JOIN orders o ON o.id = i.order_id
                  WHERE i.variant_id = v.id AND o.status = 'pending'), 0)")
echo "variants whose reservations disagree with pending orders: $bad"
[ "$bad" = 0 ]
