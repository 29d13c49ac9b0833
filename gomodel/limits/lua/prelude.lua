-- Shared by every limit script (gomodel/limits/redis_store.py puts it in front of each).
--
-- A counter is two keys:
--   H (hash)        used = settled amount, held = sum of live holds, h:<id> = amount held by <id>
--   Z (sorted set)  <id> = when the hold of <id> expires (ms), x:<id> = until when the id of a
--                   hold that expired unsettled is remembered (ms), so a late settle still counts
-- Time is the caller's `now` (ms since the epoch), never Redis's clock: the same answers for
-- every replica sharing a clock, and for tests driving one. Key TTLs are housekeeping only.
-- Numbers are Lua doubles: the Python side keeps every amount below 2^51.

local function num(h, field)
  return tonumber(redis.call('HGET', h, field) or '0')
end

-- Expired holds give their amount back; their ids stay `grace` ms for late settles.
local function sweep(h, z, now, grace)
  local due = redis.call('ZRANGEBYSCORE', z, '-inf', now, 'WITHSCORES')
  for j = 1, #due, 2 do
    local member, score = due[j], tonumber(due[j + 1])
    redis.call('ZREM', z, member)
    if string.sub(member, 1, 2) ~= 'x:' then
      local amount = redis.call('HGET', h, 'h:' .. member)
      if amount then
        redis.call('HINCRBY', h, 'held', -tonumber(amount))
        redis.call('HDEL', h, 'h:' .. member)
        if score + grace > now then
          redis.call('ZADD', z, score + grace, 'x:' .. member)
        end
      end
    end
  end
end

-- Never shortens a key's life (a CONCURRENT counter outlives its newest lease).
local function keep(key, ttl)
  if redis.call('PTTL', key) < ttl then
    redis.call('PEXPIRE', key, ttl)
  end
end

-- floor(a / b) for integers, exact where a / b in doubles might round across an integer.
local function floordiv(a, b)
  local q = math.floor(a / b)
  while q * b > a do q = q - 1 end
  while (q + 1) * b <= a do q = q + 1 end
  return q
end
