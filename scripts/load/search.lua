-- wrk script: GET /api/search rotating over the fixed query set of scripts/load/queries.txt.
-- Usage: wrk -t2 -c32 -d30s --latency -s scripts/load/search.lua http://127.0.0.1:8080 -- MODE [K] [fresh]
-- MODE is bm25 (default), dense or hybrid. With `fresh`, each request appends its own number to
-- the query, so every query is embedded (no query-vector cache hit). Prints p50/p90/p99 and
-- the non-2xx count at the end.
-- The queries: scripts/load/queries.txt (one a line), next to this script; the benches use it too.
local function load_queries()
  local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
  local file = assert(io.open(dir .. "queries.txt", "r"), "cannot open " .. dir .. "queries.txt")
  local out = {}
  for line in file:lines() do
    if line:match("%S") then out[#out + 1] = line end
  end
  file:close()
  return out
end
local queries = load_queries()
local mode = "bm25"
local k = "10"
local counter = 0
local fresh = false
local non2xx = 0

local function encode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function init(args)
  if args[1] then mode = args[1] end
  if args[2] then k = args[2] end
  fresh = args[3] == "fresh"
  counter = math.random(#queries) + math.random(1000000) * 100
end

function request()
  counter = counter + 1
  local q = queries[(counter % #queries) + 1]
  if fresh then q = q .. " " .. tostring(counter) end
  return wrk.format("GET", "/api/search?mode=" .. mode .. "&k=" .. k .. "&q=" .. encode(q))
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("requests %d, %.1f req/s, errors connect %d read %d write %d status %d timeout %d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout))
  io.write(string.format("latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
