// Package ratelimit paces calls to the Cohere API across every worker of
// every process: one sliding-window log of grants in Redis per (API-key
// fingerprint, endpoint), matching the API's own window and counted in the
// API's unit (inputs for embed, requests for the rest). Calls in flight
// hold their units until they come back; a call the API did not count gives
// them back at once; a 429 teaches the limit the API really enforces, kept
// in Redis for the key's next job. It runs on a real Redis and on miniredis
// alike.
//
//	limits, err := ratelimit.ParseLimits("embed=2000/1m") // -rate-limit
//	all := ratelimit.Defaults()
//	maps.Copy(all, limits)
//	lim := ratelimit.New(rdb, ratelimit.KeyFingerprint(apiKey), "embed", ratelimit.For(all, "embed"))
//
//	g, err := lim.Acquire(ctx, len(texts)) // before each call
//	resp, err := client.Embed(ctx, req)
//	switch {
//	case isTooManyRequests(err):
//		g.Throttled(ctx, retryAfter) // the limit is learned; the units are free
//	case failedBeforeTheAPICounted(err): // 5xx, connection reset
//		g.Unused(ctx) // the units are free again
//	default:
//		g.Sent(ctx) // the units count until a window from now
//	}
//
// Acquire guarantees that, on Redis's clock, the units granted to calls in
// flight or back less than Limit.Per ago never exceed the limit in force, so
// no window of the API's holds more (see Limiter).
package ratelimit
