-- wrk script of tests/bench/bench.sh ("many small files"): each wrk thread PUTs QUOTA bodies of SIZE bytes,
-- each with different content, to paths of its own (PREFIX<thread>-<n>.bin), then stops. wrk itself only
-- knows durations: the script times the QUOTA answers of every thread with a monotonic clock (LuaJIT FFI),
-- writes MARKER.<thread> when its thread is done (bench.sh then interrupts wrk's sleep with SIGINT), and
-- done() prints "puts N", "errors N" (not 200/201/204) and "seconds S" (first request -> last counted answer).
--
--   wrk -t2 -c16 -d600s -s put-unique.lua URL -- PREFIX QUOTA SIZE MARKER [AUTHORIZATION]
--
-- The requests still in flight when a thread reached its quota (at most one per connection) are not counted.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")
local function now()
    ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads = {}
local thread_count = 0

function setup(thread)
    thread:set("id", thread_count)
    thread_count = thread_count + 1
    table.insert(threads, thread)
end

function init(args)
    prefix = args[1]
    quota = tonumber(args[2])
    size = tonumber(args[3])
    marker = args[4]
    headers = {}
    if args[5] and args[5] ~= "" then
        headers["Authorization"] = args[5]
    end
    filler = string.rep("x", size)
    sent, answered, errors = 0, 0, 0
    first, last = 0, 0
end

function request()
    if sent == 0 then
        first = now()
    end
    sent = sent + 1
    -- different bytes in every file: arca stores content once per checksum
    local tag = string.format("%04d-%09d-", id, sent)
    local body = tag .. filler:sub(1, size - #tag)
    return wrk.format("PUT", prefix .. id .. "-" .. sent .. ".bin", headers, body)
end

function response(status, hdrs, body)
    if answered >= quota then
        return
    end
    answered = answered + 1
    if status ~= 200 and status ~= 201 and status ~= 204 then
        errors = errors + 1
    end
    if answered == quota then
        last = now()
        local f = io.open(marker .. "." .. id, "w")
        if f then
            f:write("done\n")
            f:close()
        end
        wrk.thread:stop()
    end
end

function done(summary, latency, requests)
    local t0, t1, n, errs = math.huge, 0, 0, 0
    for _, t in ipairs(threads) do
        local f, l = t:get("first"), t:get("last")
        n = n + t:get("answered")
        errs = errs + t:get("errors")
        if f and f > 0 and f < t0 then
            t0 = f
        end
        if l and l > t1 then
            t1 = l
        end
    end
    if t1 < t0 then
        t1 = t0
    end
    io.write(string.format("puts %d\nerrors %d\nseconds %.6f\n", n, errs, t1 - t0))
end
