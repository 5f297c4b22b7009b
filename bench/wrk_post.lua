-- wrk script for bench/run_bench.py: POSTs JSON (an order over 20 products when BENCH_MODE=orders, else a fixed
-- body), counts answers by status, and prints one `BENCHJSON {...}` line at the end.
local mode = os.getenv("BENCH_MODE") or "echo"
local path = os.getenv("BENCH_PATH") or "/echo"
local products = 20
local counter = 0
statuses = {}
local threads = {}
local headers = {["Content-Type"] = "application/json"}
local fixed = '{"items":[{"product_id":"B00","quantity":1},{"product_id":"B01","quantity":1}]}'
-- BENCH_TOKENS: a file of bearer tokens, one a line, sent in turn (echo requests too, as bench/loadgen.py does).
local tokens = {}
local tokens_file = os.getenv("BENCH_TOKENS")
if tokens_file then
  for line in io.lines(tokens_file) do
    if line ~= "" then table.insert(tokens, line) end
  end
end

local function with_token(n)
  if #tokens == 0 then return headers end
  return {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. tokens[(n % #tokens) + 1]}
end

function setup(thread)
  table.insert(threads, thread)
end

function request()
  counter = counter + 1
  if mode ~= "orders" then
    return wrk.format("POST", path, with_token(counter), fixed)
  end
  local body = string.format('{"items":[{"product_id":"B%02d","quantity":1},{"product_id":"B%02d","quantity":1}]}',
                             counter % products, (counter + 1) % products)
  return wrk.format("POST", path, with_token(counter), body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do
      total[k] = (total[k] or 0) + v
    end
  end
  local parts = {}
  for k, v in pairs(total) do
    table.insert(parts, string.format('"%d":%d', k, v))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"tool":"wrk","requests":%d,"duration_us":%d,"statuses":{%s},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, table.concat(parts, ","),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
