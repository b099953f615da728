-- wrk script: POST /v1/usage with unique ids.
-- Environment:
--   RECORDS  records per body (1 = a single JSON object; N > 1 = a JSON array, or NDJSON)
--   FORMAT   "json" (default) or "ndjson"
--   RUN      a prefix that makes ids unique across runs against the same database
--   IDS      "random" (default): ids start with 16 random hex digits, as UUIDs and provider
--            generation ids do, so inserts land all over the id index; "sequential": ids that grow
--            in order; "none": records without an id (the server makes a UUIDv7 for each)
-- Each id is RUN-<thread>-<counter>-<i> (after the random prefix), so ids never repeat.
-- done() prints "LOAD sent=<requests written>" so the caller can bound the rows that in-flight
-- requests (written but not answered when wrk stopped) may have added.

local threads = {}
local counter = 0
-- Globals (not locals): setup() writes tid with thread:set, done() reads sent with thread:get.
tid = 0
sent = 0

local records = tonumber(os.getenv("RECORDS") or "1")
local format = os.getenv("FORMAT") or "json"
local run = os.getenv("RUN") or "r"
local ids = os.getenv("IDS") or "random"
local random_ids = ids == "random"

function init(args)
  math.randomseed(os.time() + tid * 7919)
end

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local headers_json = { ["Content-Type"] = "application/json" }
local headers_ndjson = { ["Content-Type"] = "application/x-ndjson" }

local function record(id, n)
  if ids == "none" then
    return string.format(
      '{"service":"bot","operation":"chat","model":"gpt-4o-mini","user_id":"u%d","input_tokens":1200,"output_tokens":300,"duration_ms":850}',
      n % 1000)
  end
  if random_ids then
    id = string.format("%08x%08x-", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff)) .. id
  end
  return string.format(
    '{"id":"%s","service":"bot","operation":"chat","model":"gpt-4o-mini","user_id":"u%d","input_tokens":1200,"output_tokens":300,"duration_ms":850}',
    id, n % 1000)
end

request = function()
  counter = counter + 1
  sent = sent + 1
  local base = run .. "-" .. tid .. "-" .. counter
  if records == 1 then
    return wrk.format("POST", "/v1/usage", headers_json, record(base, counter))
  end
  local parts = {}
  for i = 1, records do
    parts[i] = record(base .. "-" .. i, counter * records + i)
  end
  if format == "ndjson" then
    return wrk.format("POST", "/v1/usage", headers_ndjson, table.concat(parts, "\n") .. "\n")
  end
  return wrk.format("POST", "/v1/usage", headers_json, "[" .. table.concat(parts, ",") .. "]")
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + (tonumber(t:get("sent")) or 0)
  end
  io.write(string.format("LOAD sent=%d\n", total))
end
