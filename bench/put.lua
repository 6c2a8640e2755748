-- bench/put.lua: wrk script for durable PUT throughput: every request creates a new
-- calendar object (unique name and UID per thread and counter) in one calendar.
-- usage: wrk -t2 -c16 -d10s -s bench/put.lua http://127.0.0.1:PORT/calendars/bench/cal/
local counter = 0
local thread_id = 0
local threads = {}

function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
end

function init(args)
    thread_id = tid
end

function request()
    counter = counter + 1
    local uid = string.format("wrk-%d-%d@almanac", thread_id, counter)
    local body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac bench//EN\r\n" ..
        "BEGIN:VEVENT\r\nUID:" .. uid .. "\r\nDTSTAMP:20260101T000000Z\r\n" ..
        "DTSTART:20260301T100000Z\r\nDURATION:PT1H\r\nSUMMARY:wrk " .. counter .. "\r\n" ..
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    local headers = {}
    headers["Content-Type"] = "text/calendar; charset=utf-8"
    headers["Authorization"] = wrk.headers["Authorization"]
    return wrk.format("PUT", wrk.path .. string.format("w%d-%d.ics", thread_id, counter),
                      headers, body)
end

function response(status, headers, body)
    if status ~= 201 then
        print("unexpected status " .. status)
    end
end
