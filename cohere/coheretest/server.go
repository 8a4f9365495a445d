package coheretest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxJSONBody bounds every JSON request body; Cohere rejects far smaller ones.
const maxJSONBody = 32 << 20

// Server is a Cohere-compatible HTTP server for tests.
type Server struct {
	// URL is the base URL to give a client, e.g. "http://127.0.0.1:41234" (no
	// trailing slash). Empty for a server made with New until it is served.
	URL string

	handler http.Handler
	srv     *http.Server
	done    chan struct{} // closed by Close: ends hangs and async work
	closeMu sync.Once

	mu       sync.Mutex
	cfg      config
	rng      *mrand.Rand
	st       Stats
	inFlight int
	counts   map[uint64]int
	chats    map[uint64]int // replies per conversation, for WithBadReplies
	seed     maphash.Seed
	calls    int // authenticated API calls, for the monthly cap
	windows  map[string]*window
	datasets map[string]*dataset
	jobs     map[string]*embedJob
	batches  map[string]*batch
	order    int64 // creation sequence for stable listings
	timers   []*time.Timer
}

// New returns a Server that is not listening: serve Handler() on a listener of
// your own (as cmd/cohere-sim does). Call Close to stop its async work.
func New(opts ...Option) *Server {
	s := &Server{
		done:     make(chan struct{}),
		cfg:      defaultConfig(),
		counts:   map[uint64]int{},
		chats:    map[uint64]int{},
		seed:     maphash.MakeSeed(),
		windows:  map[string]*window{},
		datasets: map[string]*dataset{},
		jobs:     map[string]*embedJob{},
		batches:  map[string]*batch{},
	}
	for _, o := range opts {
		o(&s.cfg)
	}
	s.rng = mrand.New(mrand.NewPCG(s.cfg.seed, s.cfg.seed^0x5eed))
	s.st = newStats()
	s.handler = s.routes()
	return s
}

// NewServer starts a Server on 127.0.0.1 with a random port, like
// httptest.NewServer. Close it when done.
func NewServer(opts ...Option) *Server {
	s := New(opts...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("coheretest: listen: %v", err))
	}
	s.URL = "http://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Resets and client hang-ups are the point of the fake; keep them quiet.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	go s.srv.Serve(ln) //nolint:errcheck // returns ErrServerClosed on Close
	return s
}

// Handler returns the fake's HTTP handler: the Cohere API routes plus the
// /_sim/ routes (stats, reset, dataset parts).
func (s *Server) Handler() http.Handler { return s.handler }

// Close ends hanging requests and pending async work and, for a server started
// by NewServer, closes the listener and all connections.
func (s *Server) Close() {
	s.closeMu.Do(func() {
		close(s.done)
		s.mu.Lock()
		for _, t := range s.timers {
			t.Stop()
		}
		s.mu.Unlock()
		if s.srv != nil {
			s.srv.Close()
		}
	})
}

// Set changes options at run time; it is safe to call while requests are in
// flight, e.g. s.Set(WithErrorRate(503, 0.5)) or s.Set(WithoutFaults()).
func (s *Server) Set(opts ...Option) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range opts {
		o(&s.cfg)
	}
}

// after runs f after d, or at once when d <= 0; nothing runs after Close.
func (s *Server) after(d time.Duration, f func()) {
	if d <= 0 {
		f()
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timers = append(s.timers, time.AfterFunc(d, func() {
		select {
		case <-s.done:
		default:
			f()
		}
	}))
}

type apiHandler func(w http.ResponseWriter, r *http.Request, body []byte)

type route struct {
	name  string // "POST /v2/embed", the key in Stats.Calls
	group string // rate-limit group
	h     apiHandler
	raw   bool // the handler streams the body itself
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range []route{
		{"POST /v1/embed", "embed", s.handleEmbedV1, false},
		{"POST /v2/embed", "embed", s.handleEmbedV2, false},
		{"POST /v2/chat", "chat", s.handleChat, false},
		{"POST /v1/rerank", "rerank", s.handleRerankV1, false},
		{"POST /v2/rerank", "rerank", s.handleRerankV2, false},
		{"POST /v1/classify", "classify", s.handleClassify, false},
		{"POST /v1/tokenize", "tokenize", s.handleTokenize, false},
		{"POST /v1/detokenize", "detokenize", s.handleDetokenize, false},
		{"GET /v1/models", "models", s.handleModelsList, false},
		{"GET /v1/models/{model}", "models", s.handleModelGet, false},
		{"POST /v1/check-api-key", "check-api-key", s.handleCheckAPIKey, false},
		{"POST /v1/datasets", "datasets", s.handleDatasetCreate, true},
		{"GET /v1/datasets", "datasets", s.handleDatasetList, false},
		{"GET /v1/datasets/usage", "datasets", s.handleDatasetUsage, false},
		{"GET /v1/datasets/{id}", "datasets", s.handleDatasetGet, false},
		{"DELETE /v1/datasets/{id}", "datasets", s.handleDatasetDelete, false},
		{"POST /v1/embed-jobs", "embed-jobs", s.handleEmbedJobCreate, false},
		{"GET /v1/embed-jobs", "embed-jobs", s.handleEmbedJobList, false},
		{"GET /v1/embed-jobs/{id}", "embed-jobs", s.handleEmbedJobGet, false},
		{"POST /v1/embed-jobs/{id}/cancel", "embed-jobs", s.handleEmbedJobCancel, false},
		{"POST /v2/batches", "batches", s.handleBatchCreate, false},
		{"GET /v2/batches", "batches", s.handleBatchList, false},
		{"GET /v2/batches/{id}", "batches", s.handleBatchGet, false},
		// ServeMux wildcards must fill a whole segment, so ":cancel" is parsed
		// by the handler.
		{"POST /v2/batches/{idcancel}", "batches", s.handleBatchCancel, false},
	} {
		mux.Handle(rt.name, s.api(rt))
	}
	mux.HandleFunc("GET /_sim/stats", s.handleSimStats)
	mux.HandleFunc("POST /_sim/reset-stats", s.handleSimReset)
	mux.HandleFunc("GET /_sim/datasets", s.handleSimDatasets)
	mux.HandleFunc("GET /_sim/parts/{id}/{part}", s.handlePart)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "404 page not found")
	})
	return mux
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int // -1 once the connection was reset (and counted)
	// onReset counts a reset the fake makes on purpose.
	onReset func()
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the hijacker.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// api wraps a handler with what every Cohere call goes through: in-flight
// accounting, auth, the monthly cap, body reading, and the injected faults.
func (s *Server) api(rt route) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w := &statusWriter{ResponseWriter: rw, onReset: func() { s.count(func(st *Stats) { st.Resets++ }) }}
		s.mu.Lock()
		s.inFlight++
		s.st.MaxInFlight = max(s.st.MaxInFlight, s.inFlight)
		s.st.Calls[rt.name]++
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.inFlight--
			switch {
			case w.status == 0: // the client went away without an answer
				s.st.Resets++
			case w.status > 0:
				s.st.Status[w.status]++
			}
			s.mu.Unlock()
		}()

		if msg, ok := s.authorize(r); !ok {
			writeError(w, http.StatusUnauthorized, msg)
			return
		}
		s.mu.Lock()
		s.calls++
		capped := s.cfg.monthlyCap > 0 && s.calls > s.cfg.monthlyCap
		monthly := s.cfg.monthlyCap
		if capped {
			s.st.MonthlyCapped++
		}
		s.mu.Unlock()
		if capped {
			w.Header().Set("X-Endpoint-Monthly-Call-Limit", fmt.Sprint(monthly))
			writeError(w, http.StatusTooManyRequests, MonthlyCapMessage(monthly))
			return
		}

		var body []byte
		if !rt.raw {
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
			if err != nil {
				var mbe *http.MaxBytesError
				if errors.As(err, &mbe) {
					writeError(w, http.StatusRequestEntityTooLarge, "invalid request: request body too large")
					return
				}
				writeError(w, http.StatusBadRequest, "invalid request: could not read body")
				return
			}
			body = b
			s.mu.Lock()
			s.st.RequestBytes += int64(len(b))
			s.st.MaxRequestBytes = max(s.st.MaxRequestBytes, int64(len(b)))
			s.mu.Unlock()
		}
		if s.injectFault(w, r, body) {
			return
		}
		s.serve(rt, w, r, body)
	})
}

func (s *Server) authorize(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "no api key supplied", false
	}
	scheme, token, ok := strings.Cut(h, " ")
	s.mu.Lock()
	key := s.cfg.apiKey
	s.mu.Unlock()
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) != key {
		return "invalid api token", false
	}
	return "", true
}

// MonthlyCapMessage is the 429 message of a trial key past its monthly call
// limit, worded as the API words it.
func MonthlyCapMessage(limit int) string {
	return fmt.Sprintf("You are using a Trial key, which is limited to %d API calls / month. "+
		"You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at "+
		"'https://dashboard.cohere.com/api-keys'. Contact us on 'https://discord.gg/XW44jPfYJu' or email us at "+
		"support@cohere.com with any questions", limit)
}

// RateLimitMessage is the message of a 429 served by WithRateLimit.
const RateLimitMessage = "You are past the per minute request limit, please wait and try again later."

type errorBody struct {
	ID      string `json:"id"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{ID: newUUID(), Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"id":"` + newUUID() + `","message":"internal server error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b) //nolint:errcheck // the client may be gone
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// wait sleeps for d unless the request or the server ends first.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.done:
		return false
	}
}
