package parquet

import (
	"context"

	"github.com/cobatch/cobatch/sinks"
)

func init() {
	sinks.Register(sinks.Kind{Scheme: "parquet", Open: func(_ context.Context, t sinks.Target) (sinks.Sink, error) {
		return New(Config{Dir: t.Location})
	}})
}
