-- drain_acquire.lua: run by dlrhook.workers.lane (Lane.acquire).
-- KEYS: the handler's active set; ARGV: now, lease end, most drains, job id.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], 3600)
return 1
