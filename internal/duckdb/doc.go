// Package duckdb checks that DuckDB (@duckdb/node-api, the version pinned
// by package-lock.json in this directory) reads the Parquet parts cobatch
// writes, with the queries the README gives. query.mjs is the client; the
// test installs it with scripts/npm-ci.sh and runs it with node.
//
//	scripts/npm-ci.sh internal/duckdb
//	node internal/duckdb/query.mjs --dir ./out --sql "SELECT count(*) AS n FROM parts"
package duckdb
