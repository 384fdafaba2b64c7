/**
 * Lua scripts that keep Connecteam's quota state in Redis for every replica. Each runs
 * atomically, so two replicas can never grant the same calls. Times are read from Redis's own
 * clock (TIME), so replicas whose clocks differ still agree on lease expiry and window resets.
 *
 * Keys: KEYS[1] and KEYS[2] are hashes of the minute and day windows with fields `limit`,
 * `remaining` and `reset` (epoch ms), as learnt from the x-ratelimit-* headers. KEYS[3] is a
 * sorted set of leases: one member per reserved call, scored by the epoch ms at which it
 * expires unless its replica renews it.
 */

/** Current Redis time in epoch ms. */
const NOW = `
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`;

/**
 * Grants `calls` reserved calls when every known window has room for them beside the calls
 * already reserved, or, while no window is known yet, when no call is outstanding at all.
 * A window whose reset (plus the margin for clock differences) has passed starts afresh.
 *
 * ARGV: calls, lease id, lease ttl ms, reset margin ms, window key ttl ms.
 * Returns {1, now} when granted, else {0, now, blocking window (0 none, 1 minute, 2 day),
 * epoch ms at which that window resets, margin included}.
 */
export const RESERVE_SCRIPT = `${NOW}
local calls = tonumber(ARGV[1])
local margin = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local outstanding = redis.call('ZCARD', KEYS[3])
local lengths = { 60000, 86400000 }
local known = false
local blockedWindow = 0
local blockedAt = 0
for i = 1, 2 do
  local fields = redis.call('HMGET', KEYS[i], 'limit', 'remaining', 'reset')
  if fields[1] then
    known = true
    local limit = tonumber(fields[1])
    local remaining = tonumber(fields[2])
    local reset = tonumber(fields[3])
    if now >= reset + margin then
      remaining = limit
      reset = reset + (math.floor((now - margin - reset) / lengths[i]) + 1) * lengths[i]
      redis.call('HSET', KEYS[i], 'remaining', remaining, 'reset', reset)
      redis.call('PEXPIREAT', KEYS[i], reset + tonumber(ARGV[5]))
    end
    if remaining - outstanding < calls and reset + margin > blockedAt then
      blockedWindow = i
      blockedAt = reset + margin
    end
  end
end
local granted
if known then granted = blockedWindow == 0 else granted = outstanding == 0 end
if not granted then return { 0, now, blockedWindow, blockedAt } end
local expiry = now + tonumber(ARGV[3])
for i = 1, calls do redis.call('ZADD', KEYS[3], expiry, ARGV[2] .. ':' .. i) end
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return { 1, now }
`;

/**
 * Records a reading of the x-ratelimit-* headers. A reading of a later window replaces the
 * stored one; within the same window the lowest remaining wins, because responses can arrive
 * out of order. With `throttled` set, a window is also marked spent when the reading shows
 * none: the minute window, until its reset, or for 60 s when its reset is not known.
 *
 * ARGV: minute limit, remaining, reset ms, day limit, remaining, reset ms (each '' when
 * absent), window key ttl ms, throttled ('1' or '0').
 */
export const OBSERVE_SCRIPT = `${NOW}
local ttl = tonumber(ARGV[7])
for i = 1, 2 do
  local base = (i - 1) * 3
  if ARGV[base + 1] ~= '' then
    local limit = tonumber(ARGV[base + 1])
    local remaining = tonumber(ARGV[base + 2])
    local reset = tonumber(ARGV[base + 3])
    local current = redis.call('HMGET', KEYS[i], 'remaining', 'reset')
    local currentReset = tonumber(current[2])
    if currentReset == nil or reset > currentReset then
      redis.call('HSET', KEYS[i], 'limit', limit, 'remaining', remaining, 'reset', reset)
      redis.call('PEXPIREAT', KEYS[i], reset + ttl)
    elseif reset == currentReset then
      local lowest = math.min(remaining, tonumber(current[1]))
      redis.call('HSET', KEYS[i], 'limit', limit, 'remaining', lowest)
    end
  end
end
if ARGV[8] ~= '1' then return 0 end
for i = 1, 2 do
  if tonumber(redis.call('HGET', KEYS[i], 'remaining')) == 0 then return 0 end
end
local fields = redis.call('HMGET', KEYS[1], 'limit', 'reset')
local reset = tonumber(fields[2])
if reset == nil or reset <= now then reset = now + 60000 end
if fields[1] then
  redis.call('HSET', KEYS[1], 'remaining', 0, 'reset', reset)
  redis.call('PEXPIREAT', KEYS[1], reset + ttl)
else
  -- With no limit known, the window would start afresh with a budget of 0, so it is kept only
  -- until the reset: after that the next call learns the limit again.
  redis.call('HSET', KEYS[1], 'limit', 0, 'remaining', 0, 'reset', reset)
  redis.call('PEXPIREAT', KEYS[1], reset)
end
return 0
`;

/**
 * Ends the lease of one call. A call that got no response may still have counted at Connecteam,
 * so it is charged to every window that has calls left.
 *
 * ARGV: lease member, answered ('1' or '0').
 */
export const SETTLE_SCRIPT = `
redis.call('ZREM', KEYS[3], ARGV[1])
if ARGV[2] == '1' then return 0 end
for i = 1, 2 do
  local remaining = tonumber(redis.call('HGET', KEYS[i], 'remaining'))
  if remaining ~= nil and remaining > 0 then redis.call('HINCRBY', KEYS[i], 'remaining', -1) end
end
return 0
`;

/** Ends the leases of calls that will not be made. KEYS[1]: the lease set. ARGV: the members. */
export const RELEASE_SCRIPT = `return redis.call('ZREM', KEYS[1], unpack(ARGV))`;

/**
 * Extends the leases a replica still holds. A lease that expired meanwhile, as during an
 * outage of Redis, is added again, because its call is still to come.
 *
 * KEYS[1]: the lease set. ARGV: lease ttl ms, then the members.
 */
export const RENEW_SCRIPT = `${NOW}
local expiry = now + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], expiry, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0
`;
