-- wrk script for the topic-request benchmark: each request asks for a new topic (a real insert,
-- its audit row and its change-log row). An optional argument (`wrk … -- PREFIX`) names the
-- topics, so that runs against the same database insert new rows too.
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
  local body = string.format('{"name":"%s_%d_%d","created_by":"bench","partitions":1}', prefix, tid, n)
  return wrk.format("POST", "/api/topics", { ["Content-Type"] = "application/json" }, body)
end
