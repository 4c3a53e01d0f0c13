-- ingest_store.lua: run by dlrhook.ingest (store).
-- Atomically: remember each report's identity for the dedup window and append the new ones to
-- the report stream; quarantine the invalid ones (the entry and its time: dlrhook.quarantine
-- describes both keys); mark the last push; and name the registered handlers that have no drain
-- job queued, i.e. no pending mark (the caller queues theirs: the drain protocol, of which this
-- is one step, is described in dlrhook.drains). Keys are named in ARGV as well as KEYS: this
-- runs on one Redis node, never a cluster.
-- The high-water mark is checked here, where the write happens, not from a reading cached by the
-- caller: scripts run one at a time, so however many web processes push at once, each batch sees
-- the memory every earlier batch took, and Redis passes the mark by at most the error of one
-- batch's estimate (README, "Reliability"). A refused batch stores nothing.
-- KEYS: stream, quarantine, last-push, handlers, quarantine times, seen keys...
-- ARGV: ttl, number of quarantine pairs, last-push value or "", pending-mark prefix, now (ms),
--       high-water fraction ("0": none), estimated bytes the batch takes,
--       wire reports..., quarantine (id, json) pairs..., most quarantine entries kept (last).
-- Returns {flags, handlers to wake}: one character per valid report, "1" accepted or "0" duplicate;
-- or the error "FULL <used> <maxmemory>" when the batch would take Redis past the mark.
local ttl = tonumber(ARGV[1])
local nq = tonumber(ARGV[2])
local nvalid = #KEYS - 5
local mark = tonumber(ARGV[6])
if mark > 0 then
  local info = redis.call('INFO', 'memory')
  local limit = tonumber(string.match(info, 'maxmemory:(%d+)'))
  if limit > 0 then
    local used = tonumber(string.match(info, 'used_memory:(%d+)'))
    if used + tonumber(ARGV[7]) > mark * limit then
      return redis.error_reply('FULL ' .. used .. ' ' .. limit)
    end
  end
end
local flags = {}
local added = 0
for i = 1, nvalid do
  if redis.call('SET', KEYS[i + 5], '1', 'NX', 'EX', ttl) then
    redis.call('XADD', KEYS[1], '*', 'w', ARGV[i + 7])
    flags[i] = '1'
    added = added + 1
  else
    flags[i] = '0'
  end
end
for j = 0, nq - 1 do
  redis.call('HSET', KEYS[2], ARGV[nvalid + 8 + 2 * j], ARGV[nvalid + 9 + 2 * j])
  redis.call('ZADD', KEYS[5], ARGV[5], ARGV[nvalid + 8 + 2 * j])
end
if nq > 0 then
  -- The quarantine keeps its newest entries only (dlrhook.quarantine.MAX_ENTRIES); at most 1,000
  -- go a batch (unpack's limit; a quarantine left larger by an older dlrhook shrinks over time,
  -- worker maintenance helping).
  local over = redis.call('ZCARD', KEYS[5]) - tonumber(ARGV[#ARGV])
  if over > 0 then
    local oldest = redis.call('ZRANGE', KEYS[5], 0, math.min(over, 1000) - 1)
    redis.call('HDEL', KEYS[2], unpack(oldest))
    redis.call('ZREM', KEYS[5], unpack(oldest))
  end
end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[3], ARGV[3])
end
local wake = {}
if added > 0 then
  for _, h in ipairs(redis.call('HKEYS', KEYS[4])) do
    if redis.call('EXISTS', ARGV[4] .. h) == 0 then
      wake[#wake + 1] = h
    end
  end
end
return {table.concat(flags), wake}
