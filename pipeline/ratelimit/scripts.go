package ratelimit

import "github.com/redis/go-redis/v9"

// The limiter's whole state is one hash, so every script touches a single
// key (Redis Cluster safe) and runs atomically. Fields:
//
//	tat   GCRA theoretical arrival time, integer µs on Redis's clock
//	rate  current shared rate in units/s; absent means the configured maximum
//	cool  end of the shared cool-down, integer µs
//	dec   no further multiplicative decrease before this time, integer µs
//	chg   time of the last rate change, integer µs (paces the additive increase)
//	gen   bumped by every reported 429; voids reservations made before it
//
// Times come from Redis TIME, the one clock every process shares. Deadlines
// are stored as values rather than left to key expiry because miniredis
// expires keys only when told to. Numbers cross the script boundary as
// strings: Redis truncates Lua numbers in replies to integers, and formats
// them with too few digits for µs timestamps in arguments.

// reserveScript takes a place in the GCRA schedule for n units, or reports
// the cool-down still to run. ARGV: n, maximum rate (units/s), burst, TTL
// (ms). Reply: {reserved 0|1, wait µs, rate, gen, new tat, previous tat,
// grant time µs}.
var reserveScript = redis.NewScript(`
local n = tonumber(ARGV[1])
local maxrate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local st = redis.call('HMGET', KEYS[1], 'tat', 'rate', 'cool', 'gen')
local rate = tonumber(st[2]) or maxrate
if rate > maxrate then rate = maxrate end
local gen = st[4] or '0'
local cool = tonumber(st[3]) or 0
local rates = string.format('%.6f', rate)
if now < cool then
  return {0, string.format('%.0f', cool - now), rates, gen, '', '', ''}
end
local interval = 1000000 / rate
local tat = tonumber(st[1]) or now
if tat < now then tat = now end
-- A request larger than the burst waits for a full bucket instead of
-- waiting for ever.
if n > burst then burst = n end
local newtat = tat + n * interval
local at = newtat - burst * interval
if at < now then at = now end
-- Rounding up keeps µs rounding from ever granting early.
local newtats = string.format('%.0f', math.ceil(newtat))
redis.call('HSET', KEYS[1], 'tat', newtats)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, string.format('%.0f', math.ceil(at - now)), rates, gen, newtats, string.format('%.0f', tat), string.format('%.0f', math.ceil(at))}
`)

// cancelScript hands a reservation back when nobody has reserved after it
// and no 429 has voided it. ARGV: new tat, previous tat, gen of the
// reservation. Reply: 1 if returned.
var cancelScript = redis.NewScript(`
local st = redis.call('HMGET', KEYS[1], 'tat', 'gen')
if st[1] == ARGV[1] and (st[2] or '0') == ARGV[3] then
  redis.call('HSET', KEYS[1], 'tat', ARGV[2])
  return 1
end
return 0
`)

// throttleScript records a 429: it starts or extends the shared cool-down,
// lowers the rate at most once per hold-off, voids outstanding reservations
// and restarts the schedule with an empty bucket when the cool-down ends.
// ARGV: cool-down µs, maximum rate, floor rate, decrease factor, hold-off µs,
// burst, TTL (ms). Reply: {cool-down remaining µs, rate}.
var throttleScript = redis.NewScript(`
local maxrate = tonumber(ARGV[2])
local floor = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local st = redis.call('HMGET', KEYS[1], 'rate', 'cool', 'dec')
local rate = tonumber(st[1]) or maxrate
if rate > maxrate then rate = maxrate end
local untilt = now + tonumber(ARGV[1])
local cool = tonumber(st[2]) or 0
if cool > untilt then untilt = cool end
local dec = tonumber(st[3]) or 0
if now >= dec then
  rate = rate * tonumber(ARGV[4])
  if rate < floor then rate = floor end
  redis.call('HSET', KEYS[1], 'rate', string.format('%.6f', rate),
    'dec', string.format('%.0f', now + tonumber(ARGV[5])), 'chg', string.format('%.0f', now))
end
-- An empty bucket at the end of the cool-down: the API's window is known to
-- be full, and the units granted before the 429 still count in it.
local tat = math.ceil(untilt + tonumber(ARGV[6]) * 1000000 / rate)
redis.call('HSET', KEYS[1], 'cool', string.format('%.0f', untilt), 'tat', string.format('%.0f', tat))
redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[7])
return {string.format('%.0f', untilt - now), string.format('%.6f', rate)}
`)

// probeScript raises a lowered rate by one step once per interval, shared
// by all processes, outside cool-downs and never above the maximum.
// ARGV: maximum rate, step (units/s), interval µs, TTL (ms). Reply: rate.
var probeScript = redis.NewScript(`
local maxrate = tonumber(ARGV[1])
local st = redis.call('HMGET', KEYS[1], 'rate', 'cool', 'chg')
local rate = tonumber(st[1])
if rate == nil then return string.format('%.6f', maxrate) end
if rate > maxrate then rate = maxrate end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if now < (tonumber(st[2]) or 0) or now - (tonumber(st[3]) or 0) < tonumber(ARGV[3]) then
  return string.format('%.6f', rate)
end
rate = rate + tonumber(ARGV[2])
if rate >= maxrate then
  rate = maxrate
  redis.call('HDEL', KEYS[1], 'rate')
else
  redis.call('HSET', KEYS[1], 'rate', string.format('%.6f', rate))
end
redis.call('HSET', KEYS[1], 'chg', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return string.format('%.6f', rate)
`)
