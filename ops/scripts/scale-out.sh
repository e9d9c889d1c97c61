#!/usr/bin/env bash
# Scale-out check: two api, two worker and two scheduler processes behind
# nginx (ops/nginx.conf) on a PostgreSQL cluster of its own and the local
# Redis, under checkouts and catalogue reads; one api is stopped (SIGTERM)
# and started again, one worker is killed (SIGKILL), PostgreSQL restarts.
# Fails unless nothing is lost or doubled (see tests/e2e/scale_out.rs), and
# prints the figures. The README's test command runs it too.
#   SCALE_OUT_SECS=60 SCALE_OUT_CLIENTS=16 bash ops/scripts/scale-out.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ops/scripts/services.sh
command -v nginx >/dev/null || bash ops/scripts/test-tools.sh
cargo test --locked --test e2e scale_out -- --nocapture
