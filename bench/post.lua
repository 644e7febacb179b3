-- wrk script: POST one fixed JSON body on every request, print one machine-readable line.
--
--   wrk ... -s bench/post.lua URL -- BODY_FILE [STOP_AFTER]
--
-- BODY_FILE   file holding the request body (sent with Content-Type: application/json)
-- STOP_AFTER  optional: each wrk thread stops after this many responses (a fixed request
--             count instead of a fixed duration; wrk -d then only bounds the run)
--
-- done() prints "WRKJSON {...}" with the summary and latency percentiles in microseconds;
-- bench/bench.py parses that line.

local stop_after = nil
local seen = 0

function init(args)
    local path = args[1]
    local f = assert(io.open(path, "rb"), "cannot open body file " .. tostring(path))
    local body = f:read("*a")
    f:close()
    wrk.method = "POST"
    wrk.body = body
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "Bearer bench-client-key"
    if args[2] then
        stop_after = tonumber(args[2])
        -- response() makes wrk hand every response to Lua (slower), so define it only when
        -- a request count is asked for.
        response = function(status, headers, body)
            seen = seen + 1
            if seen >= stop_after then
                wrk.thread:stop()
            end
        end
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
        '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,' ..
        '"lat_mean_us":%.1f,"lat_p50_us":%d,"lat_p90_us":%d,"lat_p99_us":%d,"lat_max_us":%d}\n',
        summary.requests, summary.duration, summary.bytes,
        e.connect, e.read, e.write, e.status, e.timeout,
        latency.mean, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency.max))
end
