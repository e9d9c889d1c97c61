#!/usr/bin/env bash
# Back-office benchmark against a release build, with ORDERS (default
# 1,000,000) orders made by `bazaar seed --orders`:
#   1. GET /api/v1/admin/dashboard as an admin and as the demo vendor (whose
#      store holds every seeded product: the largest vendor scope), with the
#      dashboard cache on (DASHBOARD_CACHE_SECS=10, the default) and off (0:
#      every view computes);
#   2. the first page of the order list with a random filter each request
#      (status, source, status and source, a customer, an order number, a
#      week's dates);
#   3. the CSV export of the newest 100,000 orders: seconds, and the API's
#      peak memory above its size before the export (sampled every 50 ms).
# wrk runs 64 connections for DURATION (default 15s). Each phase runs RUNS
# times (default 3); take the medians. PHASES="1 2 3" picks phases. The seeded database is kept between
# invocations (bazaar_bench_backoffice_<ORDERS>); drop it to reseed.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ops/scripts/services.sh
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
if [ -z "${BAZAAR_BIN:-}" ]; then
  cargo build --release --locked
  BAZAAR_BIN=./target/release/bazaar
fi
runs="${RUNS:-3}"
phases="${PHASES:-1 2 3}"
phase() { [[ " $phases " == *" $1 "* ]]; }
orders="${ORDERS:-1000000}"
duration="${DURATION:-15s}"
db="bazaar_bench_backoffice_$orders"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export BAZAAR_BIND=127.0.0.1:18084 LOG_FORMAT=json RUST_LOG=warn REDIS_PREFIX="benchbo$$"
export JWT_SECRET=bench-secret-bench-secret-bench-secret ACCESS_TOKEN_TTL_SECS=3600 RATE_LIMIT_LOGIN_PER_IP=100000
sql() { psql -h 127.0.0.1 -U postgres -d "$db" -tAc "$1"; }
if [ "$(psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
  psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db"
  "$BAZAAR_BIN" seed --products 1000 --orders "$orders"
  echo 'bench-password-123' | "$BAZAAR_BIN" admin create --email bench-admin@bazaar.local >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
base="http://$BAZAAR_BIND"
login() {
  curl -sf -H 'content-type: application/json' -d "{\"email\":\"$1\",\"password\":\"$2\"}" \
    "$base/api/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
# Order-list filters: random, but from the data (customers and numbers that exist).
sql "SELECT email FROM users WHERE email LIKE 'demo-customer-%' ORDER BY random() LIMIT 200" > "$work/customers"
sql "SELECT number FROM orders TABLESAMPLE SYSTEM (1) LIMIT 200" > "$work/numbers"
python3 - "$work" <<'PY'
import datetime, random, sys
work = sys.argv[1]
customers = open(f"{work}/customers").read().split()
numbers = open(f"{work}/numbers").read().split()
statuses = ["pending", "paid", "confirmed", "shipped", "delivered", "cancelled", "refunded"]
sources = ["web", "kaspi", "ozon"]
today = datetime.date.today()
paths = []
for _ in range(1000):
    kind = random.randrange(6)
    if kind == 0:
        q = f"status={random.choice(statuses)}"
    elif kind == 1:
        q = f"source={random.choice(sources)}"
    elif kind == 2:
        q = f"status={random.choice(statuses)}&source={random.choice(sources)}"
    elif kind == 3:
        q = f"customer={random.choice(customers)}"
    elif kind == 4:
        q = f"number={random.choice(numbers)}"
    else:
        start = today - datetime.timedelta(days=random.randrange(7, 360))
        end = start + datetime.timedelta(days=7)
        q = f"from={start}T00:00:00Z&to={end}T00:00:00Z"
    paths.append(f"/api/v1/admin/orders?{q}&per_page=20")
open(f"{work}/orders", "w").write("\n".join(paths) + "\n")
open(f"{work}/dashboard", "w").write("/api/v1/admin/dashboard\n")
PY
api=""
start_api() {
  DASHBOARD_CACHE_SECS=$1 "$BAZAAR_BIN" api > "$work/api.log" 2>&1 &
  api=$!
  for _ in $(seq 1 100); do curl -sf "$base/health/ready" >/dev/null && return; sleep 0.1; done
  echo "the API did not start" >&2; cat "$work/api.log" >&2; exit 1
}
stop_api() { kill "$api"; wait "$api" 2>/dev/null || true; }
load() {
  local name=$1 paths=$2 token=$3
  for run in $(seq 1 "$runs"); do
    echo "== $name, run $run (64 connections, $duration)"
    PATHS_FILE="$paths" TOKEN="$token" wrk -t2 -c64 -d"$duration" --latency \
      -s ops/scripts/bench-paths.lua "$base" | grep -E "Requests/sec|50%|99%|non-2xx"
  done
}
for cache in 10 0; do
  start_api "$cache"
  admin=$(login bench-admin@bazaar.local bench-password-123)
  vendor=$(login demo-vendor@bazaar.local demo-password-123)
  if phase 1; then
    load "dashboard, admin, cache ${cache}s" "$work/dashboard" "$admin"
    load "dashboard, vendor, cache ${cache}s" "$work/dashboard" "$vendor"
  fi
  if phase 2 && [ "$cache" = 10 ]; then
    load "order list, random filters, admin" "$work/orders" "$admin"
  fi
  stop_api
done
phase 3 || exit 0
# The export of the newest 100,000 orders.
from=$(sql "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM orders ORDER BY created_at DESC OFFSET 99999 LIMIT 1")
start_api 10
admin=$(login bench-admin@bazaar.local bench-password-123)
for run in $(seq 1 "$runs"); do
  rest=$(awk '/VmRSS/ {print $2}' "/proc/$api/status")
  peak=$rest
  curl -sf -H "Authorization: Bearer $admin" -o "$work/orders.csv" -w '%{time_total}\n' \
    "$base/api/v1/admin/orders/export?from=$from" > "$work/time" &
  curl_pid=$!
  while kill -0 "$curl_pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$api/status")
    [ "$rss" -gt "$peak" ] && peak=$rss
    sleep 0.05
  done
  wait "$curl_pid"
  rows=$(($(wc -l < "$work/orders.csv") - 1))
  echo "== export, run $run: $rows orders in $(cat "$work/time") s, $(du -k "$work/orders.csv" | cut -f1) KiB; API memory $((rest / 1024)) MiB before, peak +$(((peak - rest) / 1024)) MiB"
done
stop_api
