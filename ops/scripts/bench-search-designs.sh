#!/usr/bin/env bash
# The two designs issue 13 asked to compare for facets without a scan of
# every match, measured where design (a) is strongest.
#
#   (a) PostgreSQL with facet counts kept per category and attribute value
#       (by the transactions that change products and stock). Its read side
#       is prototyped here in a scratch schema, design_a: the counts and each
#       category's subtree precomputed, so a listing reads its page through
#       the index and sums the counts of its subtree. That only answers
#       listings WITHOUT other filters: counts per category cannot give the
#       facets of "in stock", "size M" or a text search, which still scan
#       their matches as today. pgbench runs, on PostgreSQL alone (no HTTP,
#       no item reads), random unfiltered category listings (random page,
#       newest first):
#         current   today's statement (facets over every match)
#         design_a  page by index + summed counts
#   (b) the embedded engine (SEARCH_ENGINE=embedded, the default) is
#       measured end to end over HTTP by bench-catalog.sh with the cache
#       off, for every kind of listing and search.
#
# PRODUCTS (default 10000) picks the catalogue seeded by bench-catalog.sh
# (bazaar_bench_catalog2_<n>; seeded here when missing). Prints the median
# transactions/s of RUNS (3) runs of DURATION (10) s at CLIENTS (16).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ops/scripts/services.sh
products="${PRODUCTS:-10000}" runs="${RUNS:-3}" duration="${DURATION:-10}" clients="${CLIENTS:-16}"
db="bazaar_bench_catalog2_$products"
if [ "$(psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
  if [ -z "${BAZAAR_BIN:-}" ]; then
    cargo build --release --locked
    BAZAAR_BIN=./target/release/bazaar
  fi
  DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" "$BAZAAR_BIN" seed --products "$products" >/dev/null
fi
export PGOPTIONS="-c client_min_messages=warning"
psql -h 127.0.0.1 -U postgres -d "$db" -q <<'SQL'
DROP SCHEMA IF EXISTS design_a CASCADE;
CREATE SCHEMA design_a;
-- Each category with its subtree (what a category filter covers).
CREATE TABLE design_a.subtrees AS
WITH RECURSIVE below AS (
    SELECT id AS root, id FROM categories
    UNION ALL SELECT b.root, c.id FROM categories c JOIN below b ON c.parent_id = b.id)
SELECT row_number() OVER (ORDER BY root) AS n, root, array_agg(id) AS ids FROM below GROUP BY root;
CREATE UNIQUE INDEX ON design_a.subtrees (n);
-- Visible products per category and facet value, and per category.
CREATE TABLE design_a.facet_counts AS
SELECT p.category_id, fv, count(*)::int AS n
  FROM products p JOIN stores s ON s.id = p.store_id, unnest(p.facet_values) fv
 WHERE p.deleted_at IS NULL AND p.active AND s.active AND s.deleted_at IS NULL
 GROUP BY 1, 2;
CREATE INDEX ON design_a.facet_counts (category_id);
CREATE TABLE design_a.category_stats AS
SELECT p.category_id, count(*)::int AS n, min(p.min_price) AS min_price, max(p.max_price) AS max_price
  FROM products p JOIN stores s ON s.id = p.store_id
 WHERE p.deleted_at IS NULL AND p.active AND s.active AND s.deleted_at IS NULL
 GROUP BY 1;
CREATE UNIQUE INDEX ON design_a.category_stats (category_id);
ANALYZE design_a.subtrees; ANALYZE design_a.facet_counts; ANALYZE design_a.category_stats;
SQL
categories=$(psql -h 127.0.0.1 -U postgres -d "$db" -tAc "SELECT count(*) FROM design_a.subtrees")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/current.sql" <<SQL
\set c random(1, $categories)
\set off random(0, 4) * 24
WITH matched AS MATERIALIZED (
  SELECT p.id, p.category_id, p.facet_values, p.created_at, p.min_price, p.max_price
    FROM products p JOIN stores s ON s.id = p.store_id
   WHERE p.deleted_at IS NULL AND p.active AND s.active AND s.deleted_at IS NULL
     AND p.category_id IN (
       WITH RECURSIVE below AS (
         SELECT id FROM categories WHERE id = (SELECT root FROM design_a.subtrees WHERE n = :c)
         UNION ALL SELECT c.id FROM categories c JOIN below ON c.parent_id = below.id)
       SELECT id FROM below))
SELECT (SELECT count(*) FROM matched) AS total,
       ARRAY(SELECT id FROM matched ORDER BY created_at DESC, id DESC LIMIT 24 OFFSET :off) AS ids,
       (SELECT COALESCE(json_agg(json_build_object('id', c.id, 'slug', c.slug, 'name', c.name, 'count', x.n)
                                 ORDER BY x.n DESC, c.name), '[]')
          FROM (SELECT category_id, count(*) AS n FROM matched GROUP BY category_id) x
          JOIN categories c ON c.id = x.category_id) AS categories,
       (SELECT COALESCE(json_agg(json_build_array(split_part(fv, '=', 1), substr(fv, strpos(fv, '=') + 1), n)
                                 ORDER BY split_part(fv, '=', 1), n DESC, substr(fv, strpos(fv, '=') + 1)), '[]')
          FROM (SELECT fv, count(*) AS n FROM matched m, unnest(m.facet_values) fv GROUP BY fv) y) AS attributes,
       (SELECT min(min_price) FROM matched) AS min_price,
       (SELECT max(max_price) FROM matched) AS max_price;
SQL
cat > "$work/design_a.sql" <<SQL
\set c random(1, $categories)
\set off random(0, 4) * 24
SELECT (SELECT sum(n) FROM design_a.category_stats WHERE category_id = ANY(t.ids)) AS total,
       ARRAY(SELECT p.id FROM products p JOIN stores s ON s.id = p.store_id
              WHERE p.deleted_at IS NULL AND p.active AND s.active AND s.deleted_at IS NULL
                AND p.category_id = ANY(t.ids)
              ORDER BY p.created_at DESC, p.id DESC LIMIT 24 OFFSET :off) AS ids,
       (SELECT COALESCE(json_agg(json_build_object('id', c.id, 'slug', c.slug, 'name', c.name, 'count', k.n)
                                 ORDER BY k.n DESC, c.name), '[]')
          FROM design_a.category_stats k JOIN categories c ON c.id = k.category_id
         WHERE k.category_id = ANY(t.ids)) AS categories,
       (SELECT COALESCE(json_agg(json_build_array(split_part(fv, '=', 1), substr(fv, strpos(fv, '=') + 1), n)
                                 ORDER BY split_part(fv, '=', 1), n DESC, substr(fv, strpos(fv, '=') + 1)), '[]')
          FROM (SELECT fv, sum(n) AS n FROM design_a.facet_counts WHERE category_id = ANY(t.ids) GROUP BY fv) y) AS attributes,
       (SELECT min(min_price) FROM design_a.category_stats WHERE category_id = ANY(t.ids)) AS min_price,
       (SELECT max(max_price) FROM design_a.category_stats WHERE category_id = ANY(t.ids)) AS max_price
  FROM design_a.subtrees t WHERE t.n = :c;
SQL
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-9s %-10s %10s %12s\n' products statement "tps" "latency ms"
for statement in current design_a; do
  : > "$work/runs"
  for _ in $(seq 1 "$runs"); do
    pgbench -h 127.0.0.1 -U postgres -n -c "$clients" -j 2 -T "$duration" -f "$work/$statement.sql" "$db" 2>/dev/null \
      | awk '/^tps/ {tps=$3} /^latency average/ {lat=$4} END {print tps, lat}' >> "$work/runs"
  done
  printf '%-9s %-10s %10s %12s\n' "$products" "$statement" \
    "$(awk '{print $1}' "$work/runs" | median)" "$(awk '{print $2}' "$work/runs" | median)"
done
psql -h 127.0.0.1 -U postgres -d "$db" -qc "DROP SCHEMA design_a CASCADE"
