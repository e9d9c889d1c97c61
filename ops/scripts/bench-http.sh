#!/usr/bin/env bash
# HTTP benchmark of GET /health/ready and POST /api/v1/auth/login with wrk
# (apt-get install wrk) against a release build of `bazaar api`.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ops/scripts/services.sh
command -v wrk >/dev/null || { echo "install wrk first: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --locked
export DATABASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/bazaar_bench}"
export BAZAAR_BIND=127.0.0.1:18080 REDIS_PREFIX="bench$$" LOG_FORMAT=json RUST_LOG=warn
# Login is rate limited per IP; lift the limits for the benchmark only.
export RATE_LIMIT_LOGIN_PER_IP=100000000 RATE_LIMIT_LOGIN_FAILURES=100000000
./target/release/bazaar api > /tmp/bazaar-bench-api.log 2>&1 &
api=$!
trap 'kill $api 2>/dev/null; wait $api 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -sf http://$BAZAAR_BIND/health/live >/dev/null && break; sleep 0.1; done
curl -s -o /dev/null -X POST http://$BAZAAR_BIND/api/v1/auth/register -H 'content-type: application/json' \
  -d '{"email":"bench@bazaar.test","password":"bench-password","name":"Bench","role":"customer"}'
duration="${DURATION:-15s}"
echo "== GET /health/ready (64 connections, $duration)"
wrk -t2 -c64 -d"$duration" --latency "http://$BAZAAR_BIND/health/ready"
cat > /tmp/bazaar-login.lua <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"bench@bazaar.test","password":"bench-password"}'
LUA
echo "== POST /api/v1/auth/login (16 connections, $duration)"
wrk -t2 -c16 -d"$duration" --latency -s /tmp/bazaar-login.lua "http://$BAZAAR_BIND/api/v1/auth/login"
