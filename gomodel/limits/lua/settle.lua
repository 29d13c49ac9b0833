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
  if (closes == 0 or now < closes) and redis.call('EXISTS', h) == 1 then
    sweep(h, z, now, grace)
    local amount = redis.call('HGET', h, 'h:' .. id)
    if amount then
      redis.call('HINCRBY', h, 'held', -tonumber(amount))
      redis.call('HDEL', h, 'h:' .. id)
      redis.call('ZREM', z, id)
      redis.call('HINCRBY', h, 'used', actual)
      outcome = 1
    elseif redis.call('ZSCORE', z, 'x:' .. id) then
      redis.call('ZREM', z, 'x:' .. id)
      redis.call('HINCRBY', h, 'used', actual)
      outcome = 2
    end
  end
  reply[i] = outcome
end
return reply
