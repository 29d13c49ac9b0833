-- reserve / read: check every counter of one request and, all or nothing, reserve on each.
--
-- KEYS   H1 Z1 H2 Z2 ... (one pair per counter)
-- ARGV   mode ('reserve' | 'read'), now, id, lease_end, grace, out_min, out_max,
--        then 6 per counter: limit, fixed, per_unit, hold (1|0), ttl, seed
--        seed: -1 not a budget; -2 a budget that must exist; >= 0 set it if absent (SET NX)
-- Reply  {-1, {i, ...}}   budgets (0-based) absent and not seeded: nothing changed but sweeps
--        {-2}             `id` already holds one of the counters (reserve only)
--        {admitted, out, used1, held1, used2, held2, ...}
--                         the counters as found (after sweeping and seeding, before reserving);
--                         on admission each took fixed + out * per_unit (held or, hold = 0, used)
local mode, now, id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local lease_end, grace = tonumber(ARGV[4]), tonumber(ARGV[5])
local out_min, out_max = tonumber(ARGV[6]), tonumber(ARGV[7])
local n = #KEYS / 2

local missing = {}
for i = 1, n do
  local b = 7 + (i - 1) * 6
  local seed, h = tonumber(ARGV[b + 6]), KEYS[2 * i - 1]
  if seed >= 0 then
    if redis.call('HSETNX', h, 'used', seed) == 1 then
      redis.call('PEXPIRE', h, ARGV[b + 5])
    end
  elseif seed == -2 and redis.call('HEXISTS', h, 'used') == 0 then
    missing[#missing + 1] = i - 1
  end
end
if #missing > 0 then
  return {-1, missing}
end

local out, admitted, found = out_max, 1, {}
for i = 1, n do
  local b = 7 + (i - 1) * 6
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local limit, fixed, per = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  if ARGV[b + 4] == '1' then
    sweep(h, z, now, grace) -- a counter that never holds (requests) has nothing to sweep
  end
  local used, held = num(h, 'used'), num(h, 'held')
  found[#found + 1] = used
  found[#found + 1] = held
  local room = limit - used - held
  if room < fixed + out_min * per then
    admitted = 0
  end
  if per > 0 then
    out = math.min(out, floordiv(room - fixed, per))
  end
  if mode == 'reserve' and ARGV[b + 4] == '1' and redis.call('HEXISTS', h, 'h:' .. id) == 1 then
    return {-2}
  end
end
if out < 0 then
  out = 0
end

if mode == 'reserve' and admitted == 1 then
  for i = 1, n do
    local b = 7 + (i - 1) * 6
    local h, z = KEYS[2 * i - 1], KEYS[2 * i]
    local amount = tonumber(ARGV[b + 2]) + out * tonumber(ARGV[b + 3])
    local ttl = tonumber(ARGV[b + 5])
    if ARGV[b + 4] == '1' then
      redis.call('HINCRBY', h, 'held', amount)
      redis.call('HSET', h, 'h:' .. id, amount)
      redis.call('ZADD', z, lease_end, id)
      keep(z, ttl)
    else
      redis.call('HINCRBY', h, 'used', amount)
    end
    keep(h, ttl)
  end
end

local reply = {admitted, out}
for j = 1, #found do
  reply[#reply + 1] = found[j]
end
return reply
