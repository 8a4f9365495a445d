// Package chaos is the project's fault-injection suite: every scenario runs a
// real job (the enqueue and worker binaries, real Redis, PostgreSQL with
// pgvector, the Cohere simulator) over the KJV corpus while something breaks,
// then checks the table record by record and the simulator's counters.
//
// The short form runs with the rest of the tests; the long form (the whole
// corpus, a 60-second 429 storm, more kills) is `make chaos`:
//
//	eval "$(scripts/services.sh)"
//	go test -run TestChaos -v ./internal/chaos/                  # short form
//	CHAOS=long go test -run TestChaos -v -timeout 60m ./internal/chaos/
//	go test -run 'TestChaos/sigkill' -v ./internal/chaos/         # one scenario
//
// The long form run of every scenario rewrites the fault table of
// BENCHMARKS.md between its chaos-faults markers.
//
// Each scenario asserts that its fault happened: the kill, restart, drop and outage
// scenarios hold the fake's embed calls past each fault's moment until the
// fault has fired, so a fast job cannot end before them.
//
// Each scenario logs one line:
//
//	chaos sigkill: records 20000, written 20000/skipped 0/failed 0, duplicates 0, lost 0, API calls 241 (repaid 192 of 768 allowed), 429s 0, 2 kills, 1m12.2s: PASS
package chaos
