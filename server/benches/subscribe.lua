-- wrk script for the write benchmark: each request subscribes a new user to one of the seeded
-- topics, so that every request is a real insert (not the "already subscribed" shortcut).
-- An optional argument (`wrk … -- PREFIX`) names the users, so that runs against the same
-- database insert new rows too.
local threads = {}
local next_id = 0
local prefix = "load"

function init(args)
  if args[1] then prefix = args[1] end
end

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end

local n = 0
function request()
  n = n + 1
  local body = string.format('{"user_id":"%s_%d_%d","topic_name":"topic_%04d"}', prefix, tid, n, n % 1000)
  return wrk.format("POST", "/api/subscriptions", { ["Content-Type"] = "application/json" }, body)
end
