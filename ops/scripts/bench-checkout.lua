-- wrk script for ops/scripts/bench-checkout.sh: each request is a "buy now"
-- checkout of one unit of a random variant from $VARIANTS_FILE (one id per
-- line), by a random customer from $TOKENS_FILE, with a fresh Idempotency-Key.
-- With $EVERY_MS, each connection checks out once per that many milliseconds
-- (the sales load of ops/scripts/bench-catalog.sh).
local variants, tokens = {}, {}
local shipping = os.getenv("SHIPPING_METHOD_ID")
local every = tonumber(os.getenv("EVERY_MS") or "")
local counter, thread_tag = 0, ""

local function lines(path, into)
  for line in io.lines(path) do
    if #line > 0 then into[#into + 1] = line end
  end
end

function init(args)
  lines(os.getenv("VARIANTS_FILE"), variants)
  lines(os.getenv("TOKENS_FILE"), tokens)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  thread_tag = string.format("%08x", math.random(0, 0x7fffffff))
end

function request()
  counter = counter + 1
  local variant = variants[math.random(#variants)]
  local token = tokens[math.random(#tokens)]
  local body = string.format(
    '{"items":[{"variant_id":"%s","quantity":1}],"shipping_method_id":"%s",' ..
    '"payment_method":"cash_on_delivery","phone":"+77011234567",' ..
    '"address":{"name":"Bench","line1":"Abay 1","city":"Almaty","postal_code":"050000","country":"KZ"}}',
    variant, shipping)
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = thread_tag .. "-" .. counter,
  }
  return wrk.format("POST", "/api/v1/checkout", headers, body)
end

if every then
  function delay()
    return every
  end
end

function done(summary, latency, requests)
  io.write(string.format("CHECKOUTS %d, %d non-2xx or errors\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
