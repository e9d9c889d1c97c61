#!/usr/bin/env bash
# Signed Stripe webhook ingest against `bazaar api` alone (release build,
# wrk): EVENTS (400,000) distinct events (`charge.dispute.created`: stored, processed by a
# worker later), each signed in advance, CONNECTIONS (64) for DURATION (10s),
# RUNS (3) runs. After each run every accepted event must be stored exactly
# once, with one processing job: payment_events rows = 2xx answers (plus at
# most one request in flight per connection when wrk stops).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ops/scripts/services.sh
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
if [ -z "${BAZAAR_BIN:-}" ]; then
  cargo build --release --locked
  BAZAAR_BIN=./target/release/bazaar
fi
duration="${DURATION:-10s}" conns="${CONNECTIONS:-64}" runs="${RUNS:-3}" events="${EVENTS:-400000}"
db="bazaar_bench_stripe"
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export BAZAAR_BIND=127.0.0.1:18083 LOG_FORMAT=json RUST_LOG=warn REDIS_PREFIX="benchst$$"
export STRIPE_SECRET_KEY=sk_test_bench STRIPE_WEBHOOK_SECRET=whsec_bench STRIPE_API_URL=http://127.0.0.1:9
"$BAZAAR_BIN" migrate >/dev/null
sql() { psql -h 127.0.0.1 -U postgres -d "$db" -tAc "$1"; }
work=$(mktemp -d)
api=""
trap '[ -n "$api" ] && kill $api 2>/dev/null; rm -rf "$work"' EXIT
"$BAZAAR_BIN" api > "$work/api.log" 2>&1 &
api=$!
for _ in $(seq 1 300); do curl -sf "http://$BAZAAR_BIND/health/ready" >/dev/null && break; sleep 0.1; done
for run in $(seq 1 "$runs"); do
  # Signed now: Stripe's tolerance is 300 s.
  python3 - "$work/events" "$STRIPE_WEBHOOK_SECRET" "$run" "$events" <<'PY'
import hashlib, hmac, json, sys, time
path, secret, run, n = sys.argv[1], sys.argv[2].encode(), sys.argv[3], int(sys.argv[4])
t = int(time.time())
with open(path, "w") as f:
    for i in range(n):
        body = json.dumps({"id": "evt_bench_%s_%d" % (run, i), "object": "event", "api_version": "2024-06-20",
                           "created": t, "data": {"object": {"id": "dp_%d" % i, "object": "dispute"}},
                           "livemode": False, "pending_webhooks": 1, "type": "charge.dispute.created"},
                          separators=(",", ":"))
        sig = hmac.new(secret, ("%d.%s" % (t, body)).encode(), hashlib.sha256).hexdigest()
        f.write("t=%d,v1=%s\t%s\n" % (t, sig, body))
PY
  before=$(sql "SELECT count(*) FROM payment_events")
  out=$(BODIES="$work/events" WEBHOOK_PATH=/webhooks/stripe SIGNATURE_HEADER=Stripe-Signature WRK_THREADS=2 \
    wrk -t2 -c"$conns" -d"$duration" --latency -s ops/scripts/bench-webhook-signed.lua "http://$BAZAAR_BIND")
  total=$(echo "$out" | sed -nE 's/^ *([0-9]+) requests in.*/\1/p')
  non2xx=$(echo "$out" | sed -nE 's/.*Non-2xx or 3xx responses: ([0-9]+).*/\1/p')
  stored=$(( $(sql "SELECT count(*) FROM payment_events") - before ))
  jobs=$(sql "SELECT count(*) FROM outbox WHERE kind = 'payments.process'")
  echo "== run $run"
  echo "$out" | grep -E "Requests/sec|50%|99%|Socket errors" || true
  echo "   requests $total, non-2xx ${non2xx:-0}, stored $stored, jobs $jobs in all"
  # Past EVENTS requests the bodies repeat: duplicates, stored once.
  accepted=$((total - ${non2xx:-0}))
  low=$(( accepted < events ? accepted : events )) high=$(( accepted + conns < events ? accepted + conns : events ))
  [ "$stored" -ge "$low" ] && [ "$stored" -le "$high" ] \
    || { echo "stored events ($stored) differ from accepted requests ($accepted)" >&2; exit 1; }
  [ "$jobs" = "$(sql "SELECT count(*) FROM payment_events")" ] \
    || { echo "processing jobs ($jobs) differ from stored events" >&2; exit 1; }
done
