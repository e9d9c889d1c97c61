#!/usr/bin/env bash
# Catalogue read benchmark (wrk, apt-get install wrk) against a release build
# of `bazaar api` with `bazaar seed --products $PRODUCTS` (default 10000, about
# 30k variants): product detail, a category listing, and full-text search with
# two filters and facets, at 64 and 256 connections; with the catalogue cache
# on (the default) and off (CATALOG_CACHE=false), so both costs are visible.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ops/scripts/services.sh
command -v wrk >/dev/null || { echo "install wrk first: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --locked
products="${PRODUCTS:-10000}"
duration="${DURATION:-15s}"
db="bazaar_bench_catalog_$products"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export BAZAAR_BIND=127.0.0.1:18080 LOG_FORMAT=json RUST_LOG=warn
if [ "$(psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
  ./target/release/bazaar seed --products "$products"
fi
base="http://$BAZAAR_BIND/api/v1"
product=$(psql -h 127.0.0.1 -U postgres -d "$db" -tAc \
  "SELECT slug FROM products WHERE active AND deleted_at IS NULL ORDER BY created_at LIMIT 1")
category=$(psql -h 127.0.0.1 -U postgres -d "$db" -tAc \
  "SELECT c.slug FROM categories c JOIN products p ON p.category_id = c.id GROUP BY c.slug ORDER BY count(*) DESC LIMIT 1")
parent=$(psql -h 127.0.0.1 -U postgres -d "$db" -tAc \
  "SELECT c.slug FROM categories c WHERE parent_id IS NULL AND EXISTS (SELECT 1 FROM categories k WHERE k.parent_id = c.id AND k.slug = '$category')")
word=$(psql -h 127.0.0.1 -U postgres -d "$db" -tAc \
  "SELECT split_part(name, ' ', 1) FROM products WHERE category_id = (SELECT id FROM categories WHERE slug = '$category') LIMIT 1")
urls=(
  "detail|$base/products/$product"
  "category listing|$base/products?category=$parent&sort=price&per_page=24"
  "search, 2 filters, facets|$base/products?q=$word&category=$parent&in_stock=true&per_page=24"
)
run() {
  local cache=$1
  CATALOG_CACHE=$cache REDIS_PREFIX="bench$$" ./target/release/bazaar api > /tmp/bazaar-bench-catalog.log 2>&1 &
  local api=$!
  for _ in $(seq 1 100); do curl -sf "http://$BAZAAR_BIND/health/ready" >/dev/null && break; sleep 0.1; done
  for entry in "${urls[@]}"; do
    local name=${entry%%|*} url=${entry#*|}
    curl -sf -o /dev/null "$url" || { echo "GET $url failed" >&2; kill $api; exit 1; }
    for conns in 64 256; do
      echo "== cache=$cache $name ($conns connections, $duration): $url"
      wrk -t2 -c"$conns" -d"$duration" --latency "$url" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors"
    done
  done
  kill $api; wait $api 2>/dev/null || true
}
run true
run false
