-- legacy_migrate.lua: run by dlrhook.workers.stream (migrate).
local items = redis.call('LRANGE', KEYS[1], 0, -1)
for _, w in ipairs(items) do
  redis.call('XADD', KEYS[2], '*', 'w', w)
end
redis.call('DEL', KEYS[1])
return #items
