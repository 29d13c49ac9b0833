-- Shared by every limit script (gomodel/limits/redis_store.py puts it in front of each).
--
-- A counter is two keys:
--   H (hash)        used = settled amount, held = sum of live holds, h:<id> = amount held by <id>
--   Z (sorted set)  <id> = when the hold of <id> expires (ms), x:<id> = until when the id of a
--                   hold that expired unsettled is remembered (ms), so a late settle still counts
-- A hash that exists has `used` or `held` (whatever creates it sets one; neither is ever
-- deleted), so one HMGET both reads a counter and tells whether it exists.
-- Time is the caller's `now` (ms since the epoch), never Redis's clock: the same answers for
-- every replica sharing a clock, and for tests driving one. Key TTLs are housekeeping only.
-- Numbers are Lua doubles: the Python side keeps every amount below 2^51.

-- A field's value as a number; absent is 0.
local function num(value)
  return tonumber(value or '0')
end

-- Doubles count exactly below 2^53: a total added up in Lua is written with HSET only then (one
-- call for several fields); beyond, HINCRBY adds exactly (to 2^63).
local function exact(a, b)
  return -2^53 < a and a < 2^53 and -2^53 < b and b < 2^53
end

-- Never shortens a key's life (a CONCURRENT counter outlives its newest lease).
local function keep(key, ttl)
  if redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end

-- Expired holds give their amount back; their ids stay `grace` ms for late settles. Returns how
-- many holds it gave back (0: the hash is as it was).
local function sweep(h, z, now, grace)
  local freed, remembered = 0, 0
  local due = redis.call('ZRANGEBYSCORE', z, '-inf', now, 'WITHSCORES')
  for j = 1, #due, 2 do
    local member, score = due[j], tonumber(due[j + 1])
    redis.call('ZREM', z, member)
    if string.sub(member, 1, 2) ~= 'x:' then
      local amount = redis.call('HGET', h, 'h:' .. member)
      if amount then
        -- 0 - a, not -a: -0 prints as "-0", which HINCRBY refuses
        redis.call('HINCRBY', h, 'held', 0 - tonumber(amount))
        redis.call('HDEL', h, 'h:' .. member)
        if score + grace > now then
          redis.call('ZADD', z, score + grace, 'x:' .. member)
          remembered = math.max(remembered, score + grace)
        end
        freed = freed + 1
      end
    end
  end
  -- Taking the set's last member deleted it, and the ZADD made a new one without a TTL: it
  -- lives as long as the ids it remembers.
  if remembered > 0 then
    keep(z, remembered - now)
  end
  return freed
end

-- floor(a / b) for integers, exact where a / b in doubles might round across an integer.
local function floordiv(a, b)
  local q = math.floor(a / b)
  while q * b > a do q = q - 1 end
  while (q + 1) * b <= a do q = q + 1 end
  return q
end
