#!/usr/bin/env bash
# Runs the whole system (api + worker + scheduler) with working defaults:
# PostgreSQL and Redis on localhost, mail written to ./var/outbox as .eml files.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ops/scripts/services.sh
exec cargo run --release --locked -- all "$@"
