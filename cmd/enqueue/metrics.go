package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/pipeline"
)

// serveMetrics serves the embedded workers' /metrics on addr, as a worker's
// -http does, until stop is called. An empty addr serves nothing and
// returns nil metrics, which record nothing.
func serveMetrics(addr string, rdb redis.UniversalClient, queue string, log *slog.Logger) (m *pipeline.Metrics, stop func(), err error) {
	if addr == "" {
		return nil, func() {}, nil
	}
	reg, m := cli.NewMetrics(rdb, queue)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("-http: %w", err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	log.Info("http listening", "addr", ln.Addr().String())
	return m, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
	}, nil
}
