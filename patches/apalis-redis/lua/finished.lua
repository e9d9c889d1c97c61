-- bazaar patch, prepended to vacuum.lua and vacuum_before.lua: whether a
-- task is finished for good, by the rule handle_results.lua applies. A
-- "Failed" (or "Pending") attempt with attempts left is scheduled for a retry
-- with that status; upstream's vacuum deleted its data as if it were dead, so
-- the retry found nothing to run.
local function finished(status, attempts)
  if status == "Done" or status == "Killed" then
    return true
  end
  if status == "Failed" or status == "Pending" then
    return (tonumber(attempts) or 0) >= 25
  end
  return false
end

