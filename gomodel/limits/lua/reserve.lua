-- reserve / read: check every counter of one request and, all or nothing, reserve on each.
--
-- KEYS   H1 Z1 H2 Z2 ... (one pair per counter)
-- ARGV   mode ('reserve' | 'read'), now, id, lease_end, grace, out_min, out_max,
--        then 1 per counter: "limit fixed per_unit hold ttl seed" (decimal integers, one space
--        apart: one argument, encoded once, instead of six)
--        hold: 1 held until settled, 0 consumed now
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

local lim, fix, per, hold, ttl, seeds = {}, {}, {}, {}, {}, {}
for i = 1, n do
  local a, b, c, d, e, f = string.match(ARGV[7 + i],
    '^(%-?%d+) (%-?%d+) (%-?%d+) ([01]) (%-?%d+) (%-?%d+)$')
  if not a then
    return redis.error_reply('ERR malformed counter argument ' .. i)
  end
  lim[i], fix[i], per[i] = tonumber(a), tonumber(b), tonumber(c)
  hold[i], ttl[i], seeds[i] = d == '1', tonumber(e), tonumber(f)
end

local missing = {}
for i = 1, n do
  local seed, h = seeds[i], KEYS[2 * i - 1]
  if seed >= 0 then
    if redis.call('HSETNX', h, 'used', seed) == 1 then
      redis.call('PEXPIRE', h, ttl[i])
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
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local limit, fixed, unit = lim[i], fix[i], per[i]
  if hold[i] then
    sweep(h, z, now, grace) -- a counter that never holds (requests) has nothing to sweep
  end
  local used, held = num(h, 'used'), num(h, 'held')
  found[#found + 1] = used
  found[#found + 1] = held
  local room = limit - used - held
  if room < fixed + out_min * unit then
    admitted = 0
  end
  if unit > 0 then
    out = math.min(out, floordiv(room - fixed, unit))
  end
  if mode == 'reserve' and hold[i] and redis.call('HEXISTS', h, 'h:' .. id) == 1 then
    return {-2}
  end
end
if out < 0 then
  out = 0
end

if mode == 'reserve' and admitted == 1 then
  for i = 1, n do
    local h, z = KEYS[2 * i - 1], KEYS[2 * i]
    local amount = fix[i] + out * per[i]
    if hold[i] then
      redis.call('HINCRBY', h, 'held', amount)
      redis.call('HSET', h, 'h:' .. id, amount)
      redis.call('ZADD', z, lease_end, id)
      keep(z, ttl[i])
    else
      redis.call('HINCRBY', h, 'used', amount)
    end
    keep(h, ttl[i])
  end
end

local reply = {admitted, out}
for j = 1, #found do
  reply[#reply + 1] = found[j]
end
return reply
