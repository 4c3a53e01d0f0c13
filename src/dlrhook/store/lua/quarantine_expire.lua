-- quarantine_expire.lua: run by dlrhook.quarantine (expire).
-- KEYS: quarantine times, quarantine; ARGV: cutoff (ms), most entries kept.
-- Reads only the expired entries, then the oldest past the most kept. Returns how many went.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
if #ids > 0 then
  redis.call('HDEL', KEYS[2], unpack(ids))
  redis.call('ZREM', KEYS[1], unpack(ids))
end
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
local gone = #ids
if over > 0 then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, math.min(over, 1000) - 1)
  redis.call('HDEL', KEYS[2], unpack(oldest))
  redis.call('ZREM', KEYS[1], unpack(oldest))
  gone = gone + #oldest
end
return gone
