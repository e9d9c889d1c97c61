#!/usr/bin/env bash
# Messenger benchmarks against a release build (wrk: apt-get install wrk):
#   1. signed webhook ingest: distinct Telegram updates (secret header) and
#      WhatsApp messages (X-Hub-Signature-256) posted to `bazaar api` alone,
#      requests/s, then a check that every accepted update is stored once
#      (inbound_updates rows = 2xx answers);
#   2. notification fan-out: `bazaar bench messengers` queues 10,000 order
#      events for customers with Telegram and WhatsApp on and serves the
#      provider fakes (no rate limits); a `bazaar worker` sends; messages/s
#      from the commit of the events to the last message sent.
# QUEUE_MESSENGER_CONCURRENCY=128 gives the higher fan-out figure in the
# README (the default is 16). Run it three times and take the medians (the machine is shared with wrk,
# PostgreSQL and Redis).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash ops/scripts/services.sh
command -v wrk >/dev/null || { echo "install wrk first: apt-get install -y wrk" >&2; exit 1; }
if [ -z "${BAZAAR_BIN:-}" ]; then
  cargo build --release --locked
  BAZAAR_BIN=./target/release/bazaar
fi
duration="${DURATION:-10s}"
conns="${CONNECTIONS:-64}"
events="${EVENTS:-10000}"
db="bazaar_bench_messengers"
psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db"
export BAZAAR_BIND=127.0.0.1:18082 LOG_FORMAT=json RUST_LOG=warn REDIS_PREFIX="benchmsg$$"
export TELEGRAM_BOT_TOKEN=123456:bench TELEGRAM_BOT_USERNAME=bazaar_bench_bot
export TELEGRAM_WEBHOOK_SECRET=bench-secret_1 TELEGRAM_API_URL=http://127.0.0.1:18090
export WHATSAPP_TOKEN=bench WHATSAPP_PHONE_NUMBER_ID=1065 WHATSAPP_API_URL=http://127.0.0.1:18090
export WHATSAPP_APP_SECRET=bench-app-secret WHATSAPP_VERIFY_TOKEN=bench
# "Fakes without rate limits": bazaar's own limiter still runs, set wide.
export TELEGRAM_RATE_OVERALL=1000000 WHATSAPP_RATE_PER_SEC=1000000 WHATSAPP_PAIR_PER_MINUTE=1000
"$BAZAAR_BIN" migrate >/dev/null
sql() { psql -h 127.0.0.1 -U postgres -d "$db" -tAc "$1"; }
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT

echo "== 1. webhook ingest ($conns connections, $duration each, API alone)"
"$BAZAAR_BIN" api > "$work/api.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do curl -sf "http://$BAZAAR_BIND/health/ready" >/dev/null && break; sleep 0.1; done
ingest() {
  local name=$1 script=$2 channel=$3
  local out
  out=$(WRK_THREADS=2 wrk -t2 -c"$conns" -d"$duration" --latency -s "$script" "http://$BAZAAR_BIND")
  local total non2xx stored
  total=$(echo "$out" | sed -nE 's/^ *([0-9]+) requests in.*/\1/p')
  non2xx=$(echo "$out" | sed -nE 's/.*Non-2xx or 3xx responses: ([0-9]+).*/\1/p')
  stored=$(sql "SELECT count(*) FROM inbound_updates WHERE channel = '$channel'")
  echo "-- $name"
  echo "$out" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors" || true
  echo "   requests $total, non-2xx ${non2xx:-0}, stored $stored"
  # wrk does not count the requests in flight when it stops (at most one per
  # connection), which the server still answers and stores.
  local accepted=$((total - ${non2xx:-0}))
  [ "$stored" -ge "$accepted" ] && [ "$stored" -le "$((accepted + conns))" ] \
    || { echo "stored updates ($stored) differ from accepted requests ($accepted)" >&2; exit 1; }
}
ingest "Telegram (/webhooks/telegram)" ops/scripts/bench-webhook-telegram.lua telegram
python3 - "$work/wa" "$WHATSAPP_APP_SECRET" <<'PY'
import hashlib, hmac, json, sys
path, secret = sys.argv[1], sys.argv[2].encode()
with open(path, "w") as f:
    for i in range(200000):
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
            "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "77000000000", "phone_number_id": "1065"},
                "contacts": [{"profile": {"name": "Ann"}, "wa_id": "7701%07d" % (i % 5000)}],
                "messages": [{"from": "7701%07d" % (i % 5000), "id": "wamid.bench%d" % i, "timestamp": "1700000000",
                              "type": "text", "text": {"body": "status BZ-000001"}}]}}]}]}, separators=(",", ":"))
        sig = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
        f.write("sha256=%s\t%s\n" % (sig, body))
PY
BODIES="$work/wa" WEBHOOK_PATH=/webhooks/whatsapp SIGNATURE_HEADER=X-Hub-Signature-256 \
  ingest "WhatsApp (/webhooks/whatsapp)" ops/scripts/bench-webhook-signed.lua whatsapp
kill "${pids[@]}" 2>/dev/null || true
wait 2>/dev/null || true
pids=()
# The ingested updates' jobs are not part of the fan-out figure.
sql "DELETE FROM outbox WHERE queue = 'inbound'" >/dev/null

echo "== 2. notification fan-out ($events order events, Telegram and WhatsApp)"
"$BAZAAR_BIN" worker > "$work/worker.log" 2>&1 &
pids+=($!)
"$BAZAAR_BIN" bench messengers --events "$events" --fakes 127.0.0.1:18090
