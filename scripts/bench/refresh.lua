-- wrk: refresh rotation with X-Refresh-Token. Run with one connection per thread (-tN -cN):
-- each thread rotates its own session's token, taking the successor from each answer.
-- Tokens come from TESSERA_BENCH_REFRESH_TOKENS (space-separated, one per thread).
local tokens = {}
for t in string.gmatch(os.getenv("TESSERA_BENCH_REFRESH_TOKENS") or "", "%S+") do
  table.insert(tokens, t)
end
local next_id = 1

function setup(thread)
  thread:set("token", tokens[next_id])
  next_id = next_id + 1
end

function request()
  return wrk.format("POST", "/auth/refresh", { ["X-Refresh-Token"] = token }, nil)
end

function response(status, headers, body)
  if status == 200 then
    local t = string.match(body, '"refresh":"([^"]+)"')
    if t then token = t end
  else
    failures = (failures or 0) + 1
  end
end
