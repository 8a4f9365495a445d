//go:build deps

// This file pins the dependencies that DESIGN.md chooses before every one of
// them has a user in the code; `go mod tidy` honours build-tagged files. Delete
// a line once a package imports that module.
package deps

import (
	_ "github.com/alicebob/miniredis/v2"
	_ "github.com/go-redis/redis_rate/v10"
	_ "github.com/hamba/avro/v2/ocf"
	_ "github.com/parquet-go/parquet-go"
	_ "github.com/pressly/goose/v3"
	_ "github.com/prometheus/client_golang/prometheus"
)
