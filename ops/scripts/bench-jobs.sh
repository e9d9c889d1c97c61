#!/usr/bin/env bash
# Job pipeline benchmark: a release build of `bazaar worker` against the local
# PostgreSQL and Redis, then `bazaar bench jobs` (burst throughput, then
# enqueue-to-start latency at a steady rate). Uses its own database.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ops/scripts/services.sh
cargo build --release --locked
export DATABASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/bazaar_bench}"
export REDIS_PREFIX="bench$$" LOG_FORMAT=json RUST_LOG=warn
./target/release/bazaar migrate
./target/release/bazaar worker > /tmp/bazaar-bench-worker.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null || true' EXIT
sleep 1
./target/release/bazaar bench jobs "$@"
