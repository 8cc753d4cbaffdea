-- wrk script: GET /v1/recommend for random users u0..u(USERS-1) of the demo generator.
local users = tonumber(os.getenv("USERS") or "20000")
math.randomseed(42)
request = function()
  return wrk.format("GET", "/v1/recommend?user=u" .. math.random(0, users - 1) .. "&n=10")
end
