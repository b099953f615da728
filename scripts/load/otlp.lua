-- wrk script: POST /v1/traces, an OTLP protobuf export of BODY_FILE (scripts/load/otlp_body.py)
-- with its placeholder trace id (0xA5 x 16) replaced per request, so every span is a new record.
-- Environment: BODY_FILE, RUN (a number 0-255 that makes trace ids unique across runs on one database).
-- done() prints "LOAD sent=<requests written>", like ingest.lua.

local threads = {}
local counter = 0
tid = 0
sent = 0

local run = tonumber(os.getenv("RUN") or "1")
local chunks = {}
do
  local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
  local body = f:read("*a")
  f:close()
  local placeholder = string.rep(string.char(0xA5), 16)
  local from = 1
  while true do
    local s, e = string.find(body, placeholder, from, true)
    if not s then break end
    chunks[#chunks + 1] = string.sub(body, from, s - 1)
    from = e + 1
  end
  chunks[#chunks + 1] = string.sub(body, from)
end

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local headers = { ["Content-Type"] = "application/x-protobuf" }

local function be32(n)
  return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
end

request = function()
  counter = counter + 1
  sent = sent + 1
  local trace = string.char(run, tid, 0, 0) .. be32(counter) .. string.rep(string.char(0x5A), 8)
  local parts = {}
  for i = 1, #chunks - 1 do
    parts[#parts + 1] = chunks[i]
    parts[#parts + 1] = trace
  end
  parts[#parts + 1] = chunks[#chunks]
  return wrk.format("POST", "/v1/traces", headers, table.concat(parts))
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + (tonumber(thread:get("sent")) or 0) end
  io.write(string.format("LOAD sent=%d\n", total))
end
