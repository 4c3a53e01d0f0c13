-- wrk script: POST bodies of REPORTS delivery reports, every report with a new messageId, so
-- the receiver does its whole work (a duplicate is cheaper and would flatter the figure).
local reports = tonumber(os.getenv("REPORTS") or "1")
local token = os.getenv("TOKEN") or ""
local template = [[{"bulkId":"bench-bulk","messageId":"%s","to":"4179%07d","sentAt":"2026-11-28T09:58:20.323+0100","doneAt":"2026-11-28T09:58:21.337+0100","smsCount":1,"mccMnc":"22801","price":{"pricePerMessage":0.01,"currency":"EUR"},"callbackData":"bench","status":{"id":5,"groupId":3,"groupName":"DELIVERED","name":"DELIVERED_TO_HANDSET","description":"Message delivered to handset"},"error":{"groupId":0,"groupName":"OK","id":0,"name":"NO_ERROR","description":"No Error","permanent":false}}]]
local counter = 0
local prefix = ""

function setup(thread)
  thread:set("prefix", tostring(math.random(1, 2^30)) .. "-" .. tostring(os.time()))
end

function init(args)
  prefix = prefix .. tostring(math.random(1, 2^30))
end

request = function()
  local parts = {}
  for i = 1, reports do
    counter = counter + 1
    parts[i] = string.format(template, prefix .. "-" .. counter, counter % 10000000)
  end
  local body = '{"results":[' .. table.concat(parts, ",") .. ']}'
  local path = "/notify"
  if token ~= "" then path = path .. "?token=" .. token end
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

local statuses = {}
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d errors_status=%d errors_connect=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect,
    latency:percentile(50), latency:percentile(99)))
end
