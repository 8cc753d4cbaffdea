-- wrk script: GET /v1/recommend for random users u0..u(USERS-1) of the demo generator.
-- With DELAY_MS set, each connection waits that long between requests (an offered rate of
-- about connections * 1000 / (DELAY_MS + latency) requests/s instead of a closed loop).
local users = tonumber(os.getenv("USERS") or "20000")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
local extra = os.getenv("QUERY") or ""
math.randomseed(42)
request = function()
  return wrk.format("GET", "/v1/recommend?user=u" .. math.random(0, users - 1) .. "&n=10" .. extra)
end
if delay_ms > 0 then
  delay = function()
    return delay_ms
  end
end
