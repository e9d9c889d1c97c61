-- KEYS[1]: the task data hash
-- KEYS[2]: the metadata prefix (e.g. "task_meta")
-- KEYS[3]: the dead task set (bazaar patch)

local terminal_statuses = { Done = true, Failed = true, Killed = true }

-- bazaar patch: "Failed" is final only for a task in the dead set. A failed
-- attempt with attempts left (handle_results.lua) is scheduled for a retry
-- with its status still "Failed"; deleting its data made the retry fetch
-- nothing (and upstream's fetch_next then failed the whole queue).
local function finished(task_id, status)
  if status == "Failed" then
    return redis.call("sismember", KEYS[3], task_id) == 1
  end
  return terminal_statuses[status] ~= nil
end

local result_hash = KEYS[2] .. ":result"

local deleted = 0

local fields = redis.call("hgetall", KEYS[1])

-- fields is a flat list of [field, value, field, value, ...]
for i = 1, #fields, 2 do
  local task_id = fields[i]
  local meta_key = KEYS[2] .. ':' .. task_id
  local status = redis.call("hget", meta_key, "status")

  if status and finished(task_id, status) then
    redis.call("hdel", KEYS[1], task_id)
    redis.call("hdel", result_hash, task_id)
    redis.call("del", meta_key)
    deleted = deleted + 1
  end
end

return deleted
