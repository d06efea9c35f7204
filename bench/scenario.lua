-- One wrk script for every scenario: the bench writes the scenario as a Lua table (kinds of
-- request with weights, index ranges and templates where "{i}" is a 9-digit index; the
-- answers that count as success) and passes its path as the first script argument.
--
-- Each wrk thread takes its own slice of every index range and walks it round-robin, so a
-- code is polled again only after the whole slice has been. A kind marked `once` uses each
-- index at most once (approved codes are exchanged once); when its slice is used up, the
-- thread sends the first kind instead. A response counts as good when its status and its
-- error code (if any) are in the scenario's `accept` list; anything else is counted as bad.
--
-- With `warmup_us` in the scenario (BENCH_WARM_CONNECTIONS=1), the run's first `warmup_us` are
-- its warm-up, on the same connections as the measurement: the bench runs one connection a wrk
-- thread, so each thread has one request in flight and times it itself (LuaJIT's FFI,
-- CLOCK_MONOTONIC). Only requests sent after the warm-up count, in the figures and the
-- latencies; wrk's own histogram, which cannot leave the warm-up out, is not used then.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local cfg, kinds, schedule, position
good, bad, bad_sample = 0, 0, ""
-- Warm connections: the latencies (µs) of this thread's measured requests, and their window.
latencies, measured, warmup_us = {}, 0, 0
local now_us, measure_from, sent_at

local function split(template)
  if template == nil then return nil end
  local s, e = string.find(template, "{i}", 1, true)
  if s == nil then return { template } end
  return { string.sub(template, 1, s - 1), string.sub(template, e + 1) }
end

local function fill(parts, index)
  if parts == nil then return nil end
  if parts[2] == nil then return parts[1] end
  return parts[1] .. string.format("%09d", index) .. parts[2]
end

function init(args)
  cfg = dofile(args[1])
  local thread_count = cfg.threads
  kinds = {}
  schedule = {}
  for k, kind in ipairs(cfg.kinds) do
    local slice = math.floor(kind.count / thread_count)
    if slice < 1 then slice = kind.count end
    local first = kind.start + (thread_id % thread_count) * slice
    if slice == kind.count then first = kind.start end
    local headers = {}
    for name, value in pairs(kind.headers or {}) do headers[name] = split(value) end
    kinds[k] = { method = kind.method, path = split(kind.path), body = split(kind.body), headers = headers,
                 first = first, slice = slice, n = 0, once = kind.once }
    -- The weights become a fixed, interleaved schedule of kinds.
    for _ = 1, kind.weight do table.insert(schedule, k) end
  end
  -- Interleave: a stride through the schedule that is coprime with its length.
  local shuffled, stride = {}, 7
  while #schedule % stride == 0 and stride < #schedule do stride = stride + 2 end
  for i = 0, #schedule - 1 do shuffled[i + 1] = schedule[(i * stride) % #schedule + 1] end
  schedule = shuffled
  position = 0
  if cfg.warmup_us then
    local ffi = require("ffi")
    ffi.cdef[[
      typedef struct { long tv_sec; long tv_nsec; } o2d_bench_timespec;
      int clock_gettime(int clock_id, o2d_bench_timespec *tp);
    ]]
    local ts = ffi.new("o2d_bench_timespec")
    now_us = function()
      ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
      return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
    end
    warmup_us = cfg.warmup_us
    measure_from = now_us() + cfg.warmup_us
  end
end

function request()
  position = position % #schedule + 1
  local kind = kinds[schedule[position]]
  if kind.once and kind.n >= kind.slice then kind = kinds[1] end
  local index = kind.first + (kind.n % kind.slice)
  kind.n = kind.n + 1
  local headers = {}
  for name, parts in pairs(kind.headers) do headers[name] = fill(parts, index) end
  if now_us then sent_at = now_us() end
  return wrk.format(kind.method, fill(kind.path, index), headers, fill(kind.body, index))
end

function response(status, headers, body)
  if now_us then
    -- One request in flight on this thread's one connection: this answers the one sent last.
    if sent_at < measure_from then return end
    measured = measured + 1
    latencies[measured] = now_us() - sent_at
  end
  local code = string.match(body or "", '"error":"([%w_]+)"') or ""
  local ok = cfg.accept[status .. " " .. code]
  if ok and status == 200 and cfg.ok_body and not string.find(body or "", cfg.ok_body, 1, true) then ok = false end
  if ok then
    good = good + 1
  else
    bad = bad + 1
    if bad_sample == "" then bad_sample = status .. " " .. string.sub(body or "", 1, 200) end
  end
end

function done(summary, latency, requests)
  local g, b, sample = 0, 0, ""
  local all = {}
  for _, thread in ipairs(threads) do
    g = g + (thread:get("good") or 0)
    b = b + (thread:get("bad") or 0)
    if sample == "" then sample = thread:get("bad_sample") or "" end
    for _, us in ipairs(thread:get("latencies") or {}) do all[#all + 1] = us end
  end
  sample = string.gsub(sample, '[^%w _:.,=/%-]', ' ')
  local e = summary.errors
  local count, duration, p50, p99 = summary.requests, summary.duration, latency:percentile(50), latency:percentile(99)
  local warmup = (threads[1] and threads[1]:get("warmup_us")) or 0
  if warmup > 0 then
    table.sort(all)
    local at = function(q) return all[math.max(1, math.ceil(q * #all))] or 0 end
    count, duration, p50, p99 = #all, summary.duration - warmup, at(0.50), at(0.99)
  end
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"good":%d,"bad":%d,' ..
    '"socket_errors":%d,"timeouts":%d,"bad_sample":"%s"}\n',
    count, duration, p50, p99, g, b,
    e.connect + e.read + e.write, e.timeout, sample))
end
