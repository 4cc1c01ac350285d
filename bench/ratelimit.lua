-- wrk script for bench/ratelimit.sh: counts answers by status (200, 429, other).
local counts = {}
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  ok, throttled, other = 0, 0, 0
end
function response(status, headers, body)
  if status == 200 then ok = ok + 1
  elseif status == 429 then throttled = throttled + 1
  else other = other + 1 end
end
function done(summary, latency, requests)
  local o, t, x = 0, 0, 0
  for _, th in ipairs(threads) do
    o = o + th:get("ok"); t = t + th:get("throttled"); x = x + th:get("other")
  end
  io.write(string.format("COUNTS ok=%d throttled=%d other=%d\n", o, t, x))
end
