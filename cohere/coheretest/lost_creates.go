package coheretest

import (
	"bytes"
	"net/http"
)

// Create routes: a lost answer to one of them leaves an object the client
// does not know about, which it must find by name (list endpoints) rather
// than create again.
var createRoutes = map[string]bool{
	"POST /v1/datasets":   true,
	"POST /v1/embed-jobs": true,
	"POST /v2/batches":    true,
}

// WithLostCreates makes the fake serve a create call (POST /v1/datasets,
// POST /v1/embed-jobs, POST /v2/batches) in full and then lose its answer
// when lose returns true: with status 0 the connection hangs until the
// client gives up and is then reset (a timeout); otherwise the client gets
// status (500, 503, 504) and the API's error body. lose gets the route, e.g.
// "POST /v2/batches", and how many creates that route served before this
// one (0 on the first); it is called with the server's lock held. nil turns
// it off. Calls that fail (4xx, 429) are answered as usual.
func WithLostCreates(status int, lose func(route string, earlier int) bool) Option {
	return func(c *config) { c.lostStatus, c.loseCreate = status, lose }
}

// WithLostCreateRate loses the answer to the given fraction of create
// calls that succeed, drawn from the seeded random source (see
// WithLostCreates for status). 0 turns it off.
func WithLostCreateRate(status int, fraction float64) Option {
	return func(c *config) { c.lostStatus, c.lostCreateRate = status, fraction }
}

// WithBatchLostLines makes the given fraction of batch input lines (embed
// and chat) leave no output row at all: the batch counts them as failed
// records, and its output simply lacks their custom_ids. 0 turns it off.
func WithBatchLostLines(fraction float64) Option {
	return func(c *config) { c.lostLineRate = fraction }
}

// loseLine decides whether a batch line is lost (WithBatchLostLines).
func (s *Server) loseLine() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.lostLineRate <= 0 || s.rng.Float64() >= s.cfg.lostLineRate {
		return false
	}
	s.st.LostLines++
	return true
}

// serve runs a route's handler. A create call's answer is held back until
// the handler is done, so that a successful one can be lost.
func (s *Server) serve(rt route, w http.ResponseWriter, r *http.Request, body []byte) {
	if !createRoutes[rt.name] {
		rt.h(w, r, body)
		return
	}
	rec := &heldAnswer{header: http.Header{}}
	rt.h(rec, r, body)
	s.mu.Lock()
	ok := rec.status == http.StatusOK
	lost := false
	if ok {
		earlier := s.st.Created[rt.name]
		s.st.Created[rt.name]++
		lost = (s.cfg.lostCreateRate > 0 && s.rng.Float64() < s.cfg.lostCreateRate) ||
			(s.cfg.loseCreate != nil && s.cfg.loseCreate(rt.name, earlier))
		if lost {
			s.st.LostCreates++
		}
	}
	status := s.cfg.lostStatus
	s.mu.Unlock()
	switch {
	case !lost:
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.status)
		w.Write(rec.buf.Bytes()) //nolint:errcheck // the client may be gone
	case status == 0:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		resetConn(w)
	default:
		writeError(w, status, errorMessage(status))
	}
}

// heldAnswer records a handler's answer.
type heldAnswer struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (h *heldAnswer) Header() http.Header { return h.header }

func (h *heldAnswer) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

func (h *heldAnswer) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	return h.buf.Write(b)
}
