// Command cohere-sim runs the coheretest fake as a standalone server that
// Cohere's SDKs and this project's client can use unchanged:
//
//	go run ./cmd/cohere-sim -addr 127.0.0.1:8080 -api-key test-key \
//		-embed-limit 2000/1m -error-rate 0.05 -error-status 503 -latency 50ms
//	export COHERE_BASE_URL=http://127.0.0.1:8080
//	curl -s http://127.0.0.1:8080/_sim/stats
//
// Every fault of package coheretest has a flag; -h lists them with defaults.
// SIGINT or SIGTERM shuts it down gracefully.
package main
