// Command cohere-sim serves a Cohere-compatible API (package coheretest) on
// its own address, for demos, compose stacks and load tests.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cobatch/cobatch/cohere/coheretest"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "cohere-sim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cohere-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: cohere-sim [flags]\n\nServes the Cohere API with deterministic embeddings and injectable faults.\n"+
			"GET /_sim/stats returns the served counters as JSON; POST /_sim/reset-stats zeroes them.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var opts []coheretest.Option
	var badTexts []string
	add := func(o coheretest.Option) { opts = append(opts, o) }
	addr := fs.String("addr", "127.0.0.1:8080", "listen address host:port (port 0 picks a free one)")
	apiKey := fs.String("api-key", coheretest.DefaultAPIKey, "the one bearer token accepted (a test token, not a Cohere key)")
	fs.Func("embed-limit", "embed rate limit in inputs per window, e.g. 2000/1m (default none)", func(v string) error {
		n, w, err := parseLimit(v)
		add(coheretest.WithRateLimit("embed", n, w))
		return err
	})
	fs.Func("rate-limit", "rate limit GROUP=N/WINDOW in requests (embed: inputs), repeatable, e.g. chat=500/1m (a production key's documented chat limit); groups: embed, chat, rerank, classify, tokenize, detokenize, models, check-api-key, datasets, embed-jobs, batches, * (default none)", func(v string) error {
		group, lim, ok := strings.Cut(v, "=")
		if !ok {
			return fmt.Errorf("want GROUP=N/WINDOW, got %q", v)
		}
		n, w, err := parseLimit(lim)
		add(coheretest.WithRateLimit(group, n, w))
		return err
	})
	retryAfter := fs.Bool("retry-after", false, "send Retry-After on rate-limit 429s (the real API does not)")
	latency := fs.Duration("latency", 0, "added latency per API call")
	jitter := fs.Duration("jitter", 0, "random extra latency in [0, jitter)")
	errorRate := fs.Float64("error-rate", 0, "fraction of API calls answered with -error-status")
	errorStatus := fs.Int("error-status", http.StatusInternalServerError, "status of injected errors (500, 503, 504...)")
	resetRate := fs.Float64("reset-rate", 0, "fraction of API calls whose connection is reset")
	hangRate := fs.Float64("hang-rate", 0, "fraction of API calls never answered")
	malformedRate := fs.Float64("malformed-rate", 0, "fraction of API calls answered 200 with truncated JSON")
	badReplyRate := fs.Float64("chat-bad-reply-rate", 0, "fraction of structured (json_object) chat replies that break their schema")
	fs.Func("chat-bad-reply", "text that makes every structured chat reply to a last user message containing it break its schema, repeatable", func(v string) error {
		badTexts = append(badTexts, v)
		return nil
	})
	fs.Func("classifier", "MODEL=FILE registers a fine-tuned classify model trained on FILE's examples (JSONL {\"text\", \"label\"}), repeatable; /v1/classify then serves MODEL without examples", func(v string) error {
		model, path, ok := strings.Cut(v, "=")
		if !ok || model == "" {
			return fmt.Errorf("want MODEL=FILE, got %q", v)
		}
		ex, err := readExamples(path)
		if err != nil {
			return err
		}
		add(coheretest.WithClassifier(model, ex))
		return nil
	})
	fs.Func("poison", "text that makes any request containing it fail with 400, repeatable", func(v string) error {
		add(coheretest.WithPoison(v))
		return nil
	})
	monthlyCap := fs.Int("monthly-cap", 0, "answer 429 with the trial monthly-limit message after N calls (0: no cap)")
	validateDelay := fs.Duration("validate-delay", 2*time.Second, "time a dataset stays processing before it is validated")
	processDelay := fs.Duration("process-delay", 5*time.Second, "time embed jobs and batches take to complete")
	partRows := fs.Int("part-rows", coheretest.DefaultPartRows, "rows per Avro dataset part")
	dupRate := fs.Float64("batch-dup-rate", -1, "fraction of batch output rows written twice (-1: only the first row of each batch)")
	lostLineRate := fs.Float64("batch-lost-rate", 0, "fraction of batch input lines (embed and chat) that leave no output row and count as failed")
	lostCreateRate := fs.Float64("lost-create-rate", 0, "fraction of successful create calls (datasets, embed jobs, batches) whose answer is lost after the object was created")
	lostCreateStatus := fs.Int("lost-create-status", http.StatusServiceUnavailable, "what a lost create answer looks like: a status (500, 503, 504), or 0 to hang until the client times out")
	seed := fs.Uint64("seed", 1, "seed of the random fault pattern")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	opts = append(opts,
		coheretest.WithAPIKey(*apiKey),
		coheretest.WithRetryAfter(*retryAfter),
		coheretest.WithLatency(*latency, *jitter),
		coheretest.WithErrorRate(*errorStatus, *errorRate),
		coheretest.WithResets(*resetRate),
		coheretest.WithHang(*hangRate),
		coheretest.WithMalformed(*malformedRate),
		coheretest.WithMonthlyCap(*monthlyCap),
		coheretest.WithAsyncDelays(*validateDelay, *processDelay),
		coheretest.WithPartRows(*partRows),
		coheretest.WithBatchDuplicates(*dupRate),
		coheretest.WithSeed(*seed),
		coheretest.WithBadReplyRate(*badReplyRate),
		coheretest.WithBatchLostLines(*lostLineRate),
		coheretest.WithLostCreateRate(*lostCreateStatus, *lostCreateRate),
	)
	if len(badTexts) > 0 {
		opts = append(opts, coheretest.WithBadReplies(func(lastUser string, _ int) bool {
			return slices.ContainsFunc(badTexts, func(t string) bool { return strings.Contains(lastUser, t) })
		}))
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	sim := coheretest.New(opts...)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           sim.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "cohere-sim listening on http://%s\n", ln.Addr())
	logger.Info("serving", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		sim.Close()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	// Close the fake first: it releases hanging requests so Shutdown can finish.
	sim.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// readExamples reads a fine-tuned model's training examples, one JSON
// object {"text", "label"} a line.
func readExamples(path string) ([]coheretest.ClassifyExample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []coheretest.ClassifyExample
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e struct{ Text, Label string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Text == "" || e.Label == "" {
			return nil, fmt.Errorf("%s:%d: want {\"text\": ..., \"label\": ...}", path, line)
		}
		out = append(out, coheretest.ClassifyExample{Text: e.Text, Label: e.Label})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// parseLimit reads "N/WINDOW" such as "2000/1m".
func parseLimit(v string) (int, time.Duration, error) {
	ns, ws, ok := strings.Cut(v, "/")
	if !ok {
		return 0, 0, fmt.Errorf("want N/WINDOW such as 2000/1m, got %q", v)
	}
	n, err := strconv.Atoi(ns)
	if err != nil || n < 1 {
		return 0, 0, fmt.Errorf("limit %q: N must be a positive integer", v)
	}
	w, err := time.ParseDuration(ws)
	if err != nil || w <= 0 {
		return 0, 0, fmt.Errorf("limit %q: window must be a positive duration", v)
	}
	return n, w, nil
}
