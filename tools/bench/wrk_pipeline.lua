-- wrk with HTTP/1.1 pipelining: each write carries `depth` requests (the
-- first script argument, default 16), so the load generator spends far less
-- CPU per request and a server with several cores can be the limit. Used by
-- tools/bench/run --scaling; reports like wrk_report.lua.
local depth = 16
local batch

init = function(args)
  depth = tonumber(args[1]) or depth
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format(nil, wrk.path)
  end
  batch = table.concat(requests)
end

request = function()
  return batch
end

dofile(os.getenv("WRK_REPORT_LUA"))
