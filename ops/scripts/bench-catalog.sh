#!/usr/bin/env bash
# Catalogue read benchmark: what a shop's storefront sees. wrk GETs a random
# path per request from a list made from the seeded data:
#   detail  product pages of 2,000 random products (by slug);
#   list    2,000 random listing pages: a random category (parent or leaf),
#           sort, page 1-5, sometimes in stock only or one attribute value;
#   search  2,000 random searches: a word from the seeded names' vocabulary,
#           sometimes misspelt, with random filters (category, in stock,
#           price range, attribute), facets included.
#   cold    one broad listing with facets (a top category, newest first)
#           while the catalogue changes every COLD_EVERY (0.5) s: the cache
#           is emptied and 64 clients miss at once (single flight). The
#           change is what a product edit announces, for a random product
#           of that category (COLD_CHANGE=product), or what a category or
#           store edit announces (COLD_CHANGE=all: the search engine
#           rebuilds).
# Each runs with the catalogue cache on and off (CATALOG_CACHE=false), and
# with and without sales: one checkout every EVERY_MS (default 200) ms of a
# random variant, as a shop that is selling. At PRODUCTS (default "10000
# 100000"; seeded once into bazaar_bench_catalog2_<n> and kept). Prints a
# table of medians of RUNS (default 3) runs of DURATION (default 10s) at
# CONNECTIONS (default 64): req/s, p50, p99, non-2xx, and the api's peak RSS
# (VmHWM of the process, per cache setting).
# SCENARIOS, CACHES ("on off"), SALES ("no yes") pick a subset.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ops/scripts/services.sh
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
if [ -z "${BAZAAR_BIN:-}" ]; then
  cargo build --release --locked
  BAZAAR_BIN=./target/release/bazaar
fi
duration="${DURATION:-10s}" runs="${RUNS:-3}" conns="${CONNECTIONS:-64}"
export BAZAAR_BIND=127.0.0.1:18080 LOG_FORMAT=json RUST_LOG=warn ACCESS_TOKEN_TTL_SECS=7200
export JWT_SECRET=bench-secret-bench-secret-bench-secret RATE_LIMIT_LOGIN_PER_IP=100000
work=$(mktemp -d)
api=""
trap '[ -n "$api" ] && kill $api 2>/dev/null; rm -rf "$work"' EXIT
base="http://$BAZAAR_BIND"
printf '%-8s %-6s %-5s %-7s %9s %9s %9s %8s %9s\n' products cache sales request "req/s" "p50 ms" "p99 ms" non-2xx "peak MiB" | tee "$work/table"

paths() { # $1 db; writes detail, list, search
  local db=$1 sql="psql -h 127.0.0.1 -U postgres -d $1 -tAq"
  $sql -c "SELECT '/api/v1/products/' || slug FROM products WHERE active AND deleted_at IS NULL ORDER BY random() LIMIT 2000" > "$work/detail"
  $sql -c "
    WITH c AS MATERIALIZED (SELECT slug FROM categories), f AS MATERIALIZED (SELECT DISTINCT unnest(facet_values) fv FROM products)
    SELECT '/api/v1/products?category=' || (SELECT slug FROM c WHERE g > 0 ORDER BY random() LIMIT 1)
        || '&sort=' || (ARRAY['newest','price','-price','rating'])[1 + floor(random() * 4)::int]
        || '&page=' || (1 + floor(random() * 5)::int) || '&per_page=24'
        || CASE WHEN random() < 0.3 THEN '&in_stock=true' ELSE '' END
        || CASE WHEN random() < 0.3 THEN (SELECT '&attr.' || split_part(fv, '=', 1) || '=' || replace(split_part(fv, '=', 2), ' ', '%20') FROM f WHERE g > 0 ORDER BY random() LIMIT 1) ELSE '' END
      FROM generate_series(1, 2000) g" > "$work/list"
  $sql -c "
    WITH w AS MATERIALIZED (SELECT DISTINCT lower(w) AS w FROM products, regexp_split_to_table(name, ' ') w WHERE length(w) > 3),
         c AS MATERIALIZED (SELECT slug FROM categories WHERE parent_id IS NULL),
         f AS MATERIALIZED (SELECT DISTINCT unnest(facet_values) fv FROM products)
    SELECT '/api/v1/products?q=' || CASE WHEN random() < 0.1 THEN overlay(t.w placing 'x' from 3 for 1) ELSE t.w END
        || CASE WHEN random() < 0.5 THEN '&category=' || (SELECT slug FROM c WHERE g > 0 ORDER BY random() LIMIT 1) ELSE '' END
        || CASE WHEN random() < 0.5 THEN '&in_stock=true' ELSE '' END
        || CASE WHEN random() < 0.3 THEN '&max_price=' || (1000 + floor(random() * 50000)::int) * 100 ELSE '' END
        || CASE WHEN random() < 0.3 THEN (SELECT '&attr.' || split_part(fv, '=', 1) || '=' || replace(split_part(fv, '=', 2), ' ', '%20') FROM f WHERE g > 0 ORDER BY random() LIMIT 1) ELSE '' END
        || '&per_page=24'
      FROM generate_series(1, 2000) g, LATERAL (SELECT w FROM w WHERE g > 0 ORDER BY random() LIMIT 1) t" > "$work/search"
  $sql -c "SELECT id FROM variants WHERE active AND stock > reserved ORDER BY random() LIMIT 5000" > "$work/variants"
  shipping=$($sql -c "SELECT id FROM shipping_methods ORDER BY price LIMIT 1")
  $sql -c "SELECT '/api/v1/products?category=' || c.slug || '&per_page=24'
             FROM categories c WHERE parent_id IS NULL
            ORDER BY (SELECT count(*) FROM products p JOIN categories k ON k.id = p.category_id
                       WHERE k.parent_id = c.id) DESC LIMIT 1" > "$work/cold"
  $sql -c "SELECT 'products ' || p.id FROM products p JOIN categories k ON k.id = p.category_id
             JOIN categories c ON c.id = k.parent_id
            WHERE '/api/v1/products?category=' || c.slug || '&per_page=24' = '$(cat "$work/cold")'
            ORDER BY random() LIMIT 1000" > "$work/cold-changes"
}

start_api() { # $1 cache on|off
  CATALOG_CACHE=$([ "$1" = on ] && echo true || echo false) REDIS_PREFIX="$prefix" \
    "$BAZAAR_BIN" api > "$work/api.log" 2>&1 &
  api=$!
  for _ in $(seq 1 300); do curl -sf "$base/health/ready" >/dev/null && break; sleep 0.1; done
  # The embedded search engine's first build (PostgreSQL answers until then).
  for _ in $(seq 1 600); do
    curl -s "$base/metrics" | grep -q '^bazaar_search_rebuild_seconds_count' && break; sleep 0.1
  done
  : > "$work/tokens"
  for i in $(seq 1 20); do
    { curl -sf -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
        -d "{\"email\":\"buyer$i-$RANDOM-$$@example.com\",\"password\":\"bench-password-1\",\"name\":\"Buyer $i\",\"role\":\"customer\"}" \
        | sed -E 's/.*"access_token":"([^"]+)".*/\1/'; echo; } >> "$work/tokens"
  done
}

prefix="benchcat$$"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for products in ${PRODUCTS:-10000 100000}; do
  db="bazaar_bench_catalog2_$products"
  export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
  if [ "$(psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
    "$BAZAAR_BIN" seed --products "$products" > /dev/null
  fi
  paths "$db"
  for cache in ${CACHES:-on off}; do
    start_api "$cache"
    for sales in ${SALES:-no yes}; do
      for scenario in ${SCENARIOS:-detail list search}; do
        : > "$work/runs"
        for _ in $(seq 1 "$runs"); do
          seller=""
          if [ "$sales" = yes ]; then
            VARIANTS_FILE="$work/variants" TOKENS_FILE="$work/tokens" SHIPPING_METHOD_ID=$shipping \
              EVERY_MS="${EVERY_MS:-200}" wrk -t1 -c1 -d"$duration" -s ops/scripts/bench-checkout.lua "$base" \
              > "$work/sales" 2>&1 &
            seller=$!
          fi
          changer=""
          if [ "$scenario" = cold ]; then
            # What a catalogue write tells the API processes.
            ( while :; do
                if [ "${COLD_CHANGE:-product}" = all ]; then change=changed
                else change=$(shuf -n1 "$work/cold-changes"); fi
                redis-cli -h 127.0.0.1 PUBLISH "$prefix:catalog:changed" "$change" >/dev/null
                sleep "${COLD_EVERY:-0.5}"; done ) &
            changer=$!
          fi
          PATHS_FILE="$work/$scenario" wrk -t2 -c"$conns" -d"$duration" --latency \
            -s ops/scripts/bench-paths.lua "$base" | grep '^RESULT' >> "$work/runs"
          if [ -n "$changer" ]; then kill "$changer"; wait "$changer" 2>/dev/null || true; fi
          if [ -n "$seller" ]; then wait "$seller"; grep -h '^CHECKOUTS' "$work/sales" >&2 || true; fi
        done
        peak=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$api/status")
        printf '%-8s %-6s %-5s %-7s %9s %9s %9s %8s %9s\n' "$products" "$cache" "$sales" "$scenario" \
          "$(awk '{print $2}' "$work/runs" | median)" "$(awk '{print $3}' "$work/runs" | median)" \
          "$(awk '{print $4}' "$work/runs" | median)" "$(awk '{print $5}' "$work/runs" | median)" "$peak" \
          | tee -a "$work/table"
      done
    done
    kill "$api"; wait "$api" 2>/dev/null || true; api=""
  done
done
echo; echo "== medians of $runs runs, $duration each, $conns connections"; cat "$work/table"
