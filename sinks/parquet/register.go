package parquet

import (
	"context"
	"errors"
	"syscall"

	"github.com/cobatch/cobatch/sinks"
)

func init() {
	sinks.Register(sinks.Kind{Scheme: "parquet", Transient: transient, Open: func(_ context.Context, t sinks.Target) (sinks.Sink, error) {
		return New(Config{Dir: t.Location, Corpus: t.Corpus, Snapshots: t.Op == "embed", RowKind: t.RowKind})
	}})
}

// transient reports a write error that may pass: a full disk or quota (space
// is freed), an I/O error of a network file system.
func transient(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EIO)
}
