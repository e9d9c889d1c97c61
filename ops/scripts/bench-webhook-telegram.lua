-- wrk script: signed Telegram updates to /webhooks/telegram, each with an
-- update_id of its own (thread number * 10^9 + counter), a private text
-- message as Telegram sends it.
local threads = {}
local next_thread = 0

function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  secret = os.getenv("TELEGRAM_WEBHOOK_SECRET")
  prefix = (tonumber(tid) + 1) * 1000000000
end

function request()
  counter = counter + 1
  local id = prefix + counter
  local chat = 100000 + (counter % 5000)
  local body = string.format(
    '{"update_id":%d,"message":{"message_id":%d,"date":1700000000,"chat":{"id":%d,"type":"private","first_name":"Ann"},"from":{"id":%d,"is_bot":false,"first_name":"Ann","language_code":"ru"},"text":"/orders","entities":[{"type":"bot_command","offset":0,"length":7}]}}',
    id, counter, chat, chat)
  return wrk.format("POST", "/webhooks/telegram",
    { ["Content-Type"] = "application/json", ["X-Telegram-Bot-Api-Secret-Token"] = secret }, body)
end
