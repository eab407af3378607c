-- One request shape for the whole run, from environment variables:
--   WRK_METHOD, WRK_PATH, WRK_BODY, WRK_CONTENT_TYPE, WRK_HEADER_NAME/WRK_HEADER_VALUE,
--   WRK_AUTH (Authorization), WRK_KEYS_FILE (one API key a line: a random one per request).
local method = os.getenv("WRK_METHOD") or "GET"
local path = os.getenv("WRK_PATH") or "/"
local body = os.getenv("WRK_BODY")
local headers = {}
if os.getenv("WRK_CONTENT_TYPE") then headers["Content-Type"] = os.getenv("WRK_CONTENT_TYPE") end
if os.getenv("WRK_HEADER_NAME") then headers[os.getenv("WRK_HEADER_NAME")] = os.getenv("WRK_HEADER_VALUE") end
if os.getenv("WRK_AUTH") then headers["Authorization"] = os.getenv("WRK_AUTH") end

local keys = nil
local keys_file = os.getenv("WRK_KEYS_FILE")
if keys_file then
  keys = {}
  for line in io.lines(keys_file) do keys[#keys + 1] = line end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
end

request = function()
  if keys then headers["X-API-Key"] = keys[math.random(#keys)] end
  return wrk.format(method, path, headers, body)
end

done = function(summary, latency, requests)
  io.write(string.format("JSON {\"rps\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"errors\": %d, \"non2xx\": %d}\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
