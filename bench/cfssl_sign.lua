-- wrk script: POSTs cfssl sign requests to /api/v1/cfssl/sign, one per
-- call, round-robin over the bodies in the file named by $CFSSL_REQUESTS
-- (one JSON document per line, written by signing_bench
-- --write-cfssl-requests), and counts answers that are not a signed
-- certificate. At the end it prints one JSON line, prefixed "WRK_JSON ",
-- with what wrk measured.

local bodies = {}
local threads = {}
local next_body = 1
-- Global, not local: done() reads it from each thread with thread:get().
failed = 0

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("CFSSL_REQUESTS")
  for line in io.lines(path) do
    if #line > 0 then table.insert(bodies, line) end
  end
  if #bodies == 0 then error("no cfssl requests in " .. path) end
  -- Threads start at different places in the pool.
  next_body = (thread_index * 997) % #bodies + 1
  wrk.method = "POST"
  wrk.path = "/api/v1/cfssl/sign"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local body = bodies[next_body]
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"success":true', 1, true) then
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local failed_total = 0
  for _, thread in ipairs(threads) do
    failed_total = failed_total + thread:get("failed")
  end
  local errors = summary.errors
  local socket_errors = errors.connect + errors.read + errors.write + errors.timeout
  io.write(string.format(
    'WRK_JSON {"requests":%d,"failed":%d,"socket_errors":%d,"duration_us":%d,' ..
    '"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, failed_total, socket_errors, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max))
end
