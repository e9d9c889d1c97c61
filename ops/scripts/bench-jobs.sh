#!/usr/bin/env bash
# Job pipeline benchmark: a release build of `bazaar worker` against the local
# PostgreSQL and Redis, then `bazaar bench jobs` (burst throughput, then
# enqueue-to-start latency at a steady rate). Uses its own database.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ops/scripts/services.sh
# BAZAAR_BIN measures another build (e.g. the previous commit's, for a
# before/after comparison); by default this checkout's release build.
if [ -z "${BAZAAR_BIN:-}" ]; then
  cargo build --release --locked
  BAZAAR_BIN=./target/release/bazaar
fi
export DATABASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/bazaar_bench}"
export REDIS_PREFIX="bench$$" LOG_FORMAT=json RUST_LOG=warn
"$BAZAAR_BIN" migrate
"$BAZAAR_BIN" worker > /tmp/bazaar-bench-worker.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null || true' EXIT
sleep 1
"$BAZAAR_BIN" bench jobs "$@"
