-- wrk script for the write benchmarks: each request is a real insert (not the "already
-- subscribed" shortcut) — a new user subscribing to one of the seeded topics, or with the second
-- argument `topics`, a request for a new topic (its row, audit row and change-log row).
-- The first argument (`wrk … -- PREFIX [topics]`) names the users or topics, so that runs
-- against the same database insert new rows too.
local threads = {}
local next_id = 0
local prefix = "load"
local asks_for_topics = false

function init(args)
  if args[1] then prefix = args[1] end
  asks_for_topics = args[2] == "topics"
end

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end

local n = 0
function request()
  n = n + 1
  local headers = { ["Content-Type"] = "application/json" }
  if asks_for_topics then
    local body = string.format('{"name":"%s_%d_%d","created_by":"bench","partitions":1}', prefix, tid, n)
    return wrk.format("POST", "/api/topics", headers, body)
  end
  local body = string.format('{"user_id":"%s_%d_%d","topic_name":"topic_%04d"}', prefix, tid, n, n % 1000)
  return wrk.format("POST", "/api/subscriptions", headers, body)
end
