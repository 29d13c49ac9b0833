-- reserve / read: check every counter of one request and, all or nothing, reserve on each.
--
-- KEYS   H1 Z1 H2 Z2 ... (one pair per counter)
-- ARGV   mode ('reserve' | 'read'), now, id, lease_end, grace, out_min, out_max,
--        then 1 per counter: "limit fixed per_unit hold ttl seed" (decimal integers, one space
--        apart: one argument, encoded once, instead of six)
--        hold: 1 held until settled, 0 consumed now
--        seed: -1 not a budget; -2 a budget that must exist; >= 0 set it if absent (SET NX)
-- Reply  {-1, {i, ...}}   budgets (0-based) absent and not seeded: nothing changed but sweeps
--                         and seeds
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

-- One HMGET per counter, after its sweep (which changes `held`, never `used`): the counter, the
-- budget check and the duplicate check. Once `id` is found taken the answer is {-1} or {-2}:
-- the counters after it are checked for budgets only, not swept.
local missing, taken, used, held = {}, false, {}, {}
for i = 1, n do
  local h, z, seed = KEYS[2 * i - 1], KEYS[2 * i], seeds[i]
  local f
  if hold[i] and not taken then
    sweep(h, z, now, grace) -- a counter that never holds (requests) has nothing to sweep
  end
  if mode == 'reserve' and hold[i] then
    f = redis.call('HMGET', h, 'used', 'held', 'h:' .. id)
    if f[3] then
      taken = true
    end
  else
    f = redis.call('HMGET', h, 'used', 'held')
  end
  if not f[1] then
    if seed >= 0 then -- absent, and the script runs alone: SET NX
      redis.call('HSET', h, 'used', seed)
      redis.call('PEXPIRE', h, ttl[i])
      f[1] = seed
    elseif seed == -2 then
      missing[#missing + 1] = i - 1
    end
  end
  used[i], held[i] = num(f[1]), num(f[2])
end
if #missing > 0 then
  return {-1, missing}
end
if taken then
  return {-2}
end

local out, admitted = out_max, 1
for i = 1, n do
  local room = lim[i] - used[i] - held[i]
  if room < fix[i] + out_min * per[i] then
    admitted = 0
  end
  if per[i] > 0 then
    out = math.min(out, floordiv(room - fix[i], per[i]))
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
      local total = held[i] + amount -- as read above: each counter comes once
      if exact(held[i], total) then
        redis.call('HSET', h, 'held', total, 'h:' .. id, amount)
      else
        redis.call('HINCRBY', h, 'held', amount)
        redis.call('HSET', h, 'h:' .. id, amount)
      end
      redis.call('ZADD', z, lease_end, id)
      keep(z, ttl[i])
    else
      redis.call('HINCRBY', h, 'used', amount)
    end
    keep(h, ttl[i])
  end
end

local reply = {admitted, out}
for i = 1, n do
  reply[2 * i + 1], reply[2 * i + 2] = used[i], held[i]
end
return reply
