-- settle: release one reservation's holds and charge the actual amounts. Idempotent: a hold
-- already settled (or forgotten) is left alone.
--
-- KEYS   H1 Z1 H2 Z2 ... (the counters the reservation holds)
-- ARGV   now, id, grace, then 1 per counter: "actual closes_at" (decimal integers, one space
--        apart): the actual amount, and when (ms: its window's end plus grace; 0 never) the
--        counter stops taking settles
-- Reply  {outcome1, outcome2, ...}: 1 settled, 2 late (the hold had expired; actual charged),
--        0 nothing done (settled before, the counter closed, or the id's memory expired)
local now, id, grace = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local reply = {}
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local a, c = string.match(ARGV[3 + i], '^(%-?%d+) (%-?%d+)$')
  if not a then
    return redis.error_reply('ERR malformed counter argument ' .. i)
  end
  local actual, closes = tonumber(a), tonumber(c)
  local outcome = 0
  if closes == 0 or now < closes then
    local f = redis.call('HMGET', h, 'held', 'used', 'h:' .. id)
    if f[1] or f[2] or f[3] then -- the hash exists
      if sweep(h, z, now, grace) > 0 then -- `held` changed; this very hold may have expired
        local g = redis.call('HMGET', h, 'held', 'h:' .. id)
        f[1], f[3] = g[1], g[2]
      end
      if f[3] then
        local held, used, amount = num(f[1]), num(f[2]), tonumber(f[3])
        -- HDEL first: the hash never has more fields than before (nor another encoding)
        redis.call('HDEL', h, 'h:' .. id)
        if exact(held, used) and exact(held - amount, used + actual) then
          redis.call('HSET', h, 'held', held - amount, 'used', used + actual)
        else
          redis.call('HINCRBY', h, 'held', 0 - amount)
          redis.call('HINCRBY', h, 'used', actual)
        end
        redis.call('ZREM', z, id)
        outcome = 1
      elseif redis.call('ZSCORE', z, 'x:' .. id) then
        redis.call('ZREM', z, 'x:' .. id)
        redis.call('HINCRBY', h, 'used', actual)
        outcome = 2
      end
    end
  end
  reply[i] = outcome
end
return reply
