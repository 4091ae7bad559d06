-- wrk script for the paced write benchmark: like writes.lua (subscriptions), but each connection waits
-- 8 ms between requests, so that 20 connections offer about 2,400 writes/s — the latency a
-- user sees at the target rate, rather than at saturation.
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id + 100)
end

local n = 0
function request()
  n = n + 1
  local body = string.format('{"user_id":"paced_%d_%d","topic_name":"topic_%04d"}', tid, n, n % 1000)
  return wrk.format("POST", "/api/subscriptions", { ["Content-Type"] = "application/json" }, body)
end

function delay()
  return 8
end
