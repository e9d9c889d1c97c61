#!/usr/bin/env bash
# Marketplace benchmarks against a release build, at 10x a demo shop's data
# (100,000 listed offers):
#   1. the Kaspi feed: seconds to stream /feeds/kaspi.xml of 100,000 offers
#      and the API's peak memory above its resting size (VmHWM - VmRSS of a
#      fresh `bazaar api`); the file is checked (one <offer> per listing,
#      well-formed when xmllint is installed);
#   2. Kaspi order import: `bazaar bench kaspi-import` serves a Kaspi fake
#      with 10,000 new orders; a `bazaar worker` pulls, reserves and accepts
#      them; orders/s end to end;
#   3. stock propagation: `bazaar bench ozon-propagation` places site
#      checkouts at 200/s through `bazaar all` (API, worker, scheduler with
#      the default SCHEDULE_MARKETPLACE_SYNC) on 10,000 Ozon listings and
#      times each sale until a fake Ozon receives a figure that counts it.
# Each phase runs RUNS times (default 3); take the medians. PHASES="1 2 3"
# picks phases. Autovacuum is off on the bench machine: the script vacuums
# between runs itself (a shop must keep autovacuum on).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ops/scripts/services.sh
if [ -z "${BAZAAR_BIN:-}" ]; then
  cargo build --release --locked
  BAZAAR_BIN=./target/release/bazaar
fi
runs="${RUNS:-3}"
offers="${OFFERS:-100000}"
orders="${ORDERS:-10000}"
db="bazaar_bench_marketplaces"
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export BAZAAR_BIND=127.0.0.1:18083 LOG_FORMAT=json RUST_LOG=warn REDIS_PREFIX="benchmp$$"
export JWT_SECRET=bench-secret-bench-secret-bench-secret ACCESS_TOKEN_TTL_SECS=3600 RATE_LIMIT_LOGIN_PER_IP=100000
export KASPI_FEED_TOKEN=bench-feed-token KASPI_MERCHANT_ID=30123456 KASPI_TOKEN=bench
export KASPI_API_URL=http://127.0.0.1:18091/shop/api KASPI_RATE_PER_SEC=100000 KASPI_ORDERS_REREAD_SECS=86400
export OZON_CLIENT_ID=1 OZON_API_KEY=bench OZON_API_URL=http://127.0.0.1:18092 OZON_WAREHOUSE_ID=22142605386000
export OZON_CURRENCY=KZT SCHEDULE_KASPI_ORDERS="0 0 0 1 1 *" SCHEDULE_OZON_ORDERS="0 0 0 1 1 *"
"$BAZAAR_BIN" seed --products 1000 >/dev/null
sql() { psql -h 127.0.0.1 -U postgres -d "$db" -tAc "$1"; }
# 10x: enough variants for $offers Kaspi offers, spread over the products.
sql "WITH ps AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM products),
          c AS (SELECT count(*) AS k FROM ps)
     INSERT INTO variants (id, product_id, sku, attributes, price, currency, stock)
     SELECT gen_random_uuid(), ps.id, 'BF' || lpad(i::text, 7, '0'), jsonb_build_object('size', 'B' || i),
            100000 + (i % 500) * 100, 'KZT', i % 7
       FROM generate_series(1, $offers) i, c, ps WHERE ps.n = i % c.k" >/dev/null
sql "INSERT INTO listings (variant_id, marketplace)
     SELECT id, 'kaspi' FROM variants WHERE sku LIKE 'BF%' ORDER BY sku LIMIT $offers ON CONFLICT DO NOTHING" >/dev/null
sql "ANALYZE" >/dev/null
listed=$(sql "SELECT count(*) FROM listings WHERE marketplace = 'kaspi'")
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
ready() { for _ in $(seq 1 300); do curl -sf "http://$BAZAAR_BIND/health/ready" >/dev/null && return; sleep 0.1; done; echo "not ready" >&2; exit 1; }
kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

phases="${PHASES:-1 2 3}"
if [[ " $phases " == *" 1 "* ]]; then
echo "== 1. Kaspi feed: $listed offers"
for run in $(seq 1 "$runs"); do
  "$BAZAAR_BIN" api > "$work/api.log" 2>&1 &
  api=$!
  pids+=("$api")
  ready
  rest=$(kb "$api" VmRSS)
  # The resident size sampled every 10 ms while the feed streams.
  ( peak=0; while kill -0 "$api" 2>/dev/null && [ ! -e "$work/done" ]; do
      r=$(kb "$api" VmRSS); [ "$r" -gt "$peak" ] && peak=$r; echo "$peak" > "$work/peak"; sleep 0.01; done ) &
  sampler=$!
  secs=$(curl -sf -o "$work/feed.xml" -w '%{time_total}' "http://$BAZAAR_BIND/feeds/kaspi.xml?token=$KASPI_FEED_TOKEN")
  touch "$work/done"; wait "$sampler" || true; rm -f "$work/done"
  peak=$(cat "$work/peak")
  n=$(grep -c '<offer sku=' "$work/feed.xml")
  [ "$n" = "$listed" ] || { echo "the feed has $n offers, not $listed" >&2; exit 1; }
  if command -v xmllint >/dev/null; then xmllint --noout "$work/feed.xml"; fi
  echo "run $run: $secs s, $(du -m "$work/feed.xml" | cut -f1) MB, API peak $(( (peak - rest) / 1024 )) MB above its resting $(( rest / 1024 )) MB"
  kill "$api"; wait "$api" 2>/dev/null || true
done
fi

if [[ " $phases " == *" 2 "* ]]; then
echo "== 2. Kaspi order import: $orders orders a run"
"$BAZAAR_BIN" worker > "$work/worker.log" 2>&1 &
worker=$!
pids+=("$worker")
sleep 1
for run in $(seq 1 "$runs"); do
  sql "VACUUM ANALYZE" >/dev/null
  "$BAZAAR_BIN" bench kaspi-import --orders "$orders" --fakes 127.0.0.1:18091
done
kill "$worker"; wait "$worker" 2>/dev/null || true
fi

[[ " $phases " == *" 3 "* ]] || exit 0
echo "== 3. stock propagation: site checkouts at ${RATE:-200}/s to a fake Ozon"
"$BAZAAR_BIN" all > "$work/all.log" 2>&1 &
pids+=($!)
ready
for i in $(seq 1 20); do
  { curl -sf -X POST "http://$BAZAAR_BIND/api/v1/auth/register" -H 'content-type: application/json' \
      -d "{\"email\":\"mp$i-$$@example.com\",\"password\":\"bench-password-1\",\"name\":\"Bench $i\",\"role\":\"customer\"}" \
      | sed -E 's/.*"access_token":"([^"]+)".*/\1/'; echo; } >> "$work/tokens"
done
shipping=$(sql "SELECT id FROM shipping_methods ORDER BY price LIMIT 1")
for run in $(seq 1 "$runs"); do
  sql "VACUUM ANALYZE" >/dev/null
  "$BAZAAR_BIN" bench ozon-propagation --api "http://$BAZAAR_BIND" --tokens "$work/tokens" \
    --shipping-method "$shipping" --variants 10000 --rate "${RATE:-200}" --seconds "${SECONDS_PER_RUN:-20}" \
    --fakes 127.0.0.1:18092
done
