-- status_fold.lua: run by dlrhook.status.fold. SLOTS_VALUE is replaced by _SLOTS there.
-- ARGV: ttl seconds, now (ms), message prefix, bulk prefix, the number of status parts P, P
--   status parts (``"status":{..},"error":{..}`` JSON text, each distinct pair of the batch
--   once), then _SLOTS values per item: kind ("r" report, "s" seen, "e" user event), message
--   id, report key (seen, event: its time), final 0/1 (seen, event: its time in ms), doneAt ms,
--   status group (event: its name, e.g. OPENED), bulk id or "",
--   status part number, the current status's JSON tail (``,"final":..,"doneAt":..``), the
--   history entry (JSON array), meta JSON (absent fields left out), the secondsToFinal bucket
--   of a final report (its doneAt - sentAt; -1: none).
-- KEYS: the intermediate index.
-- A message is a hash: r = "final|doneAt ms|report key|group" of the current report, cur = its
-- status JSON, meta = the message's details (JSON), h:<report key> = one history entry each,
-- The bulk's t:<bucket> counts the messages by the bucket of the report that first made them
-- final (moved once, with that report). c = "group|final|bulk" as counted in the bulk's counters, seen and sm = seenAt (text, ms),
-- e:<EVENT> and em:<EVENT> = the first time of each user event (text, ms). Seen reports and
-- events set their times (the earliest wins) and never move the status.
-- A new message costs three calls (HMGET, HSET, EXPIRE) and no JSON work; bulk counters are
-- summed per batch and written once. Returns the 1-based indexes of the items that made their
-- message final for the first time.
local ttl = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local mprefix, bprefix = ARGV[3], ARGV[4]
local nparts = tonumber(ARGV[5])
local base = 5 + nparts
local N = SLOTS_VALUE
local firsts = {}
local bulks = {}
local function bump(b, field, n)
  local t = bulks[b]
  if not t then t = {}; bulks[b] = t end
  t[field] = (t[field] or 0) + n
end
local function merge(old, new, overwrite)
  local m = cjson.decode(old)
  for k, v in pairs(cjson.decode(new)) do
    if overwrite or m[k] == nil then m[k] = v end
  end
  return m
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - ttl * 1000))
for n = 1, (#ARGV - base) / N do
  local o = base + (n - 1) * N
  local id = ARGV[o + 2]
  local mkey = mprefix .. id
  local kind = ARGV[o + 1]
  if kind == 's' or kind == 'e' then
    local tf, mf = 'seen', 'sm'
    if kind == 'e' then tf, mf = 'e:' .. ARGV[o + 6], 'em:' .. ARGV[o + 6] end
    local sm = tonumber(ARGV[o + 4])
    local old = redis.call('HMGET', mkey, mf, 'meta')
    if not old[1] or sm < tonumber(old[1]) then
      local meta = ARGV[o + 11]
      if old[2] then meta = cjson.encode(merge(old[2], meta, false)) end
      redis.call('HSET', mkey, mf, sm, tf, ARGV[o + 3], 'meta', meta)
      redis.call('EXPIRE', mkey, ttl)
    end
  else
    local key, fs, ds, g = ARGV[o + 3], ARGV[o + 4], ARGV[o + 5], ARGV[o + 6]
    local f, d = tonumber(fs), tonumber(ds)
    local old = redis.call('HMGET', mkey, 'h:' .. key, 'r', 'c', 'meta')
    if not old[1] then
      local rf, rd, rk, rg
      if old[2] then
        local a, b
        a, b, rk, rg = string.match(old[2], '^(%d)|(%-?%d+)|([^|]*)|(.*)$')
        rf, rd = tonumber(a), tonumber(b)
      end
      local above
      if not rk then above = true
      elseif f ~= rf then above = f > rf
      elseif d ~= rd then above = d > rd
      else above = key > rk end
      local meta, bulk = ARGV[o + 11], ARGV[o + 7]
      if old[4] then
        local m = merge(old[4], meta, above)
        meta = cjson.encode(m)
        bulk = (type(m.bulkId) == 'string') and m.bulkId or ''
      end
      local fields = {'h:' .. key, ARGV[o + 10], 'meta', meta}
      local cg_now, cf_now = rg, rf
      local fb
      if above then
        fields[5], fields[6] = 'r', fs .. '|' .. ds .. '|' .. key .. '|' .. g
        fields[7], fields[8] = 'cur', '{' .. ARGV[5 + tonumber(ARGV[o + 8])] .. ARGV[o + 9] .. '}'
        cg_now, cf_now = g, f
        if f == 1 then
          if rf ~= 1 then
            firsts[#firsts + 1] = n
            fb = tonumber(ARGV[o + 12])
          end
          if rf == 0 then redis.call('ZREM', KEYS[1], id) end
        else
          redis.call('ZADD', KEYS[1], now, id)
        end
      end
      if bulk ~= '' and cg_now then
        local bkey = bprefix .. bulk
        local cg, cf, cb
        if old[3] then
          cg, cf, cb = string.match(old[3], '^([^|]*)|(%d)|(.*)$')
          cf = tonumber(cf)
        end
        if not cb then
          bump(bkey, 'messages', 1)
          bump(bkey, 'g:' .. cg_now, 1)
          if cf_now == 1 then bump(bkey, 'final', 1) end
          fields[#fields + 1] = 'c'
          fields[#fields + 1] = cg_now .. '|' .. cf_now .. '|' .. bulk
        elseif cb == bulk and (cg ~= cg_now or cf ~= cf_now) then
          if cg ~= cg_now then
            bump(bkey, 'g:' .. cg, -1)
            bump(bkey, 'g:' .. cg_now, 1)
          end
          if cf ~= cf_now then bump(bkey, 'final', cf_now - cf) end
          fields[#fields + 1] = 'c'
          fields[#fields + 1] = cg_now .. '|' .. cf_now .. '|' .. bulk
        end
      end
      if fb and fb >= 0 and bulk ~= '' then bump(bprefix .. bulk, 't:' .. fb, 1) end
      redis.call('HSET', mkey, unpack(fields))
      redis.call('EXPIRE', mkey, ttl)
    end
  end
end
for bkey, deltas in pairs(bulks) do
  for field, delta in pairs(deltas) do
    if delta ~= 0 then redis.call('HINCRBY', bkey, field, delta) end
  end
  redis.call('EXPIRE', bkey, ttl)
end
return firsts
