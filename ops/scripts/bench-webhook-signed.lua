-- wrk script: signed webhooks POSTed to $WEBHOOK_PATH with the signature in
-- header $SIGNATURE_HEADER, each a distinct event signed in advance (wrk's
-- Lua has no HMAC) by the calling script: one "signature<TAB>body" line per
-- request in $BODIES, each thread taking every n-th line so no two requests
-- repeat. Used for WhatsApp (bench-messengers.sh) and Stripe
-- (bench-webhook-stripe.sh).
local path = os.getenv("WEBHOOK_PATH")
local header = os.getenv("SIGNATURE_HEADER")
local next_thread = 0

function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  lines = {}
  local threads = tonumber(os.getenv("WRK_THREADS"))
  local i = 0
  for line in io.lines(os.getenv("BODIES")) do
    if i % threads == tonumber(tid) then
      local tab = string.find(line, "\t", 1, true)
      table.insert(lines, { string.sub(line, 1, tab - 1), string.sub(line, tab + 1) })
    end
    i = i + 1
  end
  counter = 0
end

function request()
  counter = counter + 1
  local l = lines[counter]
  if l == nil then
    -- Out of distinct bodies: repeat (counted as duplicates, stored once).
    counter = 1
    l = lines[1]
  end
  return wrk.format("POST", path, { ["Content-Type"] = "application/json", [header] = l[1] }, l[2])
end
