// Package ratelimit paces calls to the Cohere API across every worker of
// every process: one GCRA schedule in Redis per (API-key fingerprint,
// endpoint), counted in the API's own unit (inputs for embed, requests for
// the rest), with a shared cool-down and an AIMD rate on 429s. It runs on a
// real Redis and on miniredis alike.
//
//	limits, err := ratelimit.ParseLimits("embed=2000/1m") // -rate-limit
//	all := ratelimit.Defaults()
//	maps.Copy(all, limits)
//	lim := ratelimit.New(rdb, ratelimit.KeyFingerprint(apiKey), "embed", ratelimit.For(all, "embed"))
//
//	waited, err := lim.Wait(ctx, len(texts)) // before each call
//	resp, err := client.Embed(ctx, req)
//	switch {
//	case isTooManyRequests(err):
//		lim.Throttled(ctx, retryAfter) // every worker pauses; the rate drops
//	case err == nil:
//		lim.Succeeded(ctx) // the rate creeps back up
//	}
//
// Wait guarantees that, on Redis's clock, at most Limit.Count units are
// granted in any window of Limit.Per, as long as no request exceeds the
// burst (see Limiter); the API sees them a network hop later.
package ratelimit
