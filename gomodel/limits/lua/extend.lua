-- extend: move the expiry of one reservation's live holds to a new lease end.
--
-- KEYS   H1 Z1 H2 Z2 ... (the counters the reservation holds)
-- ARGV   now, id, lease_end, grace, then 2 per counter: key TTL (ms), closes_at (as for settle)
-- Reply  {extended1, extended2, ...}: 1 where the hold was live and now ends at lease_end
local now, id = tonumber(ARGV[1]), ARGV[2]
local lease_end, grace = tonumber(ARGV[3]), tonumber(ARGV[4])
local reply = {}
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local ttl, closes = tonumber(ARGV[3 + 2 * i]), tonumber(ARGV[4 + 2 * i])
  local extended = 0
  if closes == 0 or now < closes then
    local f = redis.call('HMGET', h, 'held', 'used', 'h:' .. id)
    local live = f[3]
    if (f[1] or f[2] or live) and sweep(h, z, now, grace) > 0 then -- the hold may have expired
      live = redis.call('HEXISTS', h, 'h:' .. id) == 1
    end
    if live then
      redis.call('ZADD', z, 'XX', lease_end, id)
      keep(h, ttl)
      keep(z, ttl)
      extended = 1
    end
  end
  reply[i] = extended
end
return reply
