-- quarantine_expire.lua: run by dlrhook.quarantine (expire).
-- KEYS: quarantine times, quarantine; ARGV: cutoff (ms). Reads only the expired entries.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
if #ids > 0 then
  redis.call('HDEL', KEYS[2], unpack(ids))
  redis.call('ZREM', KEYS[1], unpack(ids))
end
return #ids
