-- wrk script for ops/scripts/bench-catalog.sh and bench-back-office.sh: each
-- request GETs a random path from $PATHS_FILE (one a line), with $TOKEN as the
-- bearer when it is set. At the end, for people "non-2xx or errors: <n>", and
-- for scripts RESULT <req/s> <p50 ms> <p99 ms> <non-2xx and socket errors>.
local paths = {}
local token = os.getenv("TOKEN")
local headers = token and { ["Authorization"] = "Bearer " .. token } or {}

function init(args)
  for line in io.lines(os.getenv("PATHS_FILE")) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  return wrk.format("GET", paths[math.random(#paths)], headers)
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("non-2xx or errors: %d\n", errors))
  io.write(string.format("RESULT %.0f %.1f %.1f %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
