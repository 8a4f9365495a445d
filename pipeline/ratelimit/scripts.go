package ratelimit

import "github.com/redis/go-redis/v9"

// A limiter's state is three keys sharing one hash tag, so every script runs
// atomically in one Redis Cluster slot:
//
//	log     ZSET of units the API has seen; member "seq:n", score = the time
//	        (µs) the units leave the API's window: a window after the call
//	        came back, so the API's arrival time is always inside it
//	flight  ZSET of units granted to calls not yet back; member "seq:n",
//	        score = lease deadline (µs), after which a call whose process
//	        died is counted as sent at its deadline
//	state   HASH: seq (member counter), learned (the limit learned from
//	        429s, absent while the configured one holds), lgen (bumped by
//	        every learn), probed (µs of the last learn or increase), cool (µs
//	        until which nothing is granted), strikes (learns since the last
//	        call the API took)
//
// Times come from Redis TIME, the one clock every process shares. Numbers
// cross the script boundary as strings: Redis truncates Lua numbers in
// replies to integers.

// windowLua is shared by the scripts: it moves expired leases into the log,
// drops units that have left the window, and sums what is left. It defines
// now, units(member) and sum.
const windowLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local win = tonumber(ARGV[1])
local function units(m) return tonumber(string.match(m, ':(%d+)$')) end
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES')
for i = 1, #lapsed, 2 do
  redis.call('ZADD', KEYS[1], tonumber(lapsed[i+1]) + win, lapsed[i])
  redis.call('ZREM', KEYS[2], lapsed[i])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local logged = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local flying = redis.call('ZRANGE', KEYS[2], 0, -1)
local sum = 0
for i = 1, #logged, 2 do sum = sum + units(logged[i]) end
local flysum = 0
for _, m in ipairs(flying) do flysum = flysum + units(m) end
sum = sum + flysum
`

// acquireScript grants n units when the window has room for them (or is
// empty: a request larger than the limit goes alone), or, when it has room
// for at least least units, as many as it has room for; else it reports how
// long until least units leave it, counting calls in flight as if they came
// back now. The member names the units granted. KEYS: log, flight, state.
// ARGV: window µs, n, configured count, lease µs, key TTL ms, state TTL ms,
// least. Reply: {granted 0|1, member or wait µs, limit, lgen, now µs}.
var acquireScript = redis.NewScript(windowLua + `
local n = tonumber(ARGV[2])
local st = redis.call('HMGET', KEYS[3], 'learned', 'lgen', 'cool')
local limit = tonumber(ARGV[3])
local learned = tonumber(st[1])
if learned and learned < limit then limit = learned end
local lgen = st[2] or '0'
local cool = tonumber(st[3]) or 0
if now < cool then
  return {'0', string.format('%.0f', cool - now), tostring(limit), lgen, ''}
end
local least = tonumber(ARGV[7])
if least > n then least = n end
if sum + n > limit and sum > 0 and limit - sum >= least then n = limit - sum end
if sum + n <= limit or sum == 0 then
  local seq = redis.call('HINCRBY', KEYS[3], 'seq', 1)
  local m = seq .. ':' .. n
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), m)
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
  redis.call('PEXPIRE', KEYS[3], ARGV[6])
  return {'1', m, tostring(limit), lgen, string.format('%.0f', now)}
end
local ends = {}
for i = 1, #logged, 2 do ends[#ends+1] = {tonumber(logged[i+1]), units(logged[i])} end
for _, m in ipairs(flying) do ends[#ends+1] = {now + win, units(m)} end
table.sort(ends, function(a, b) return a[1] < b[1] end)
local free = limit - sum
local wait = win
for _, e in ipairs(ends) do
  free = free + e[2]
  if free >= least then wait = e[1] - now break end
end
if wait < 1000 then wait = 1000 end
return {'0', string.format('%.0f', wait), tostring(limit), lgen, ''}
`)

// doneScript ends a grant: sent, its units count until a window from now
// and the strikes are cleared; not sent, they are free at once. A grant
// whose lease lapsed is already in the log and stays there. KEYS: log,
// flight, state. ARGV: window µs, member, sent 0|1, key TTL ms. Reply: 1 if
// the grant was still in flight.
var doneScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if ARGV[3] == '1' then redis.call('HDEL', KEYS[3], 'strikes') end
if redis.call('ZREM', KEYS[2], ARGV[2]) == 0 then return 0 end
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
`)

// throttleScript records a 429 for the grant member (not counted: the API
// refused it). If the grant was made under the current limit (its lgen is
// the current one, or none is given), the limit is learned: the units the
// API saw in the window, but no less than factor × the current limit nor the
// floor. A learn also pauses every grant for the cool-down, doubled for
// each learn since the API last took a call (a storm of 429s is probed, not
// hammered), up to the cap; a Retry-After longer than the window pauses
// them too. KEYS: log, flight, state. ARGV: window µs, member (or empty),
// lgen (or empty), configured count, factor, floor count, Retry-After µs,
// key TTL ms, state TTL ms, cool-down µs, cap µs. Reply: {limit, lgen}.
var throttleScript = redis.NewScript(windowLua + `
local m = ARGV[2]
if m ~= '' and redis.call('ZREM', KEYS[2], m) == 1 then sum = sum - units(m) flysum = flysum - units(m) end
local st = redis.call('HMGET', KEYS[3], 'learned', 'lgen', 'cool')
local limit = tonumber(ARGV[4])
local learned = tonumber(st[1])
if learned and learned < limit then limit = learned end
local lgen = st[2] or '0'
local pause = 0
if ARGV[3] == '' or ARGV[3] == lgen then
  local seen = sum - flysum
  local lo = math.floor(limit * tonumber(ARGV[5]))
  if seen < lo then seen = lo end
  if seen < tonumber(ARGV[6]) then seen = tonumber(ARGV[6]) end
  if seen < limit then limit = seen end
  lgen = tostring(redis.call('HINCRBY', KEYS[3], 'lgen', 1))
  redis.call('HSET', KEYS[3], 'learned', limit, 'probed', string.format('%.0f', now))
  local strikes = redis.call('HINCRBY', KEYS[3], 'strikes', 1)
  pause = tonumber(ARGV[10]) * 2 ^ (strikes - 1)
  if pause > tonumber(ARGV[11]) then pause = tonumber(ARGV[11]) end
end
local ra = tonumber(ARGV[7])
if ra > win and ra > pause then pause = ra end
if pause > 0 then
  local cool = now + pause
  if cool > (tonumber(st[3]) or 0) then redis.call('HSET', KEYS[3], 'cool', string.format('%.0f', cool)) end
end
redis.call('PEXPIRE', KEYS[3], ARGV[9])
return {tostring(limit), lgen}
`)

// probeScript raises a learned limit by step once per interval, shared by
// all processes, and forgets it once it is back at the configured count.
// KEYS: state. ARGV: configured count, step, interval µs, state TTL ms.
// Reply: the limit.
var probeScript = redis.NewScript(`
local cfg = tonumber(ARGV[1])
local st = redis.call('HMGET', KEYS[1], 'learned', 'probed')
local learned = tonumber(st[1])
if learned == nil or learned >= cfg then
  if learned then redis.call('HDEL', KEYS[1], 'learned') end
  return tostring(cfg)
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if now - (tonumber(st[2]) or 0) < tonumber(ARGV[3]) then return tostring(learned) end
learned = learned + tonumber(ARGV[2])
if learned >= cfg then
  redis.call('HDEL', KEYS[1], 'learned')
  learned = cfg
else
  redis.call('HSET', KEYS[1], 'learned', learned)
end
redis.call('HSET', KEYS[1], 'probed', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return tostring(learned)
`)
