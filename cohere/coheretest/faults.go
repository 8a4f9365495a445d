package coheretest

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"
)

// injectFault applies the configured faults in a fixed order and reports
// whether one of them answered the request.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request, body []byte) bool {
	s.mu.Lock()
	c := s.cfg
	hooks := append([]FaultFunc(nil), c.faults...)
	roll := func(f float64) bool { return f > 0 && s.rng.Float64() < f }
	reset := roll(c.resetRate)
	hang := roll(c.hangRate)
	fail := c.errStatus != 0 && roll(c.errRate)
	malformed := roll(c.malformedRate)
	var extra time.Duration
	if c.jitter > 0 {
		extra = time.Duration(s.rng.Int64N(int64(c.jitter)))
	}
	s.mu.Unlock()

	for _, h := range hooks {
		if status, resp, ok := h(r, body); ok {
			s.count(func(st *Stats) { st.InjectedErrors++ })
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			w.Write([]byte(resp)) //nolint:errcheck // the client may be gone
			return true
		}
	}
	if !hang && c.hangFunc != nil {
		hang = c.hangFunc(r)
	}
	if hang {
		s.count(func(st *Stats) { st.Hangs++ })
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		// Nothing was written: the connection is dropped without an answer.
		resetConn(w)
		return true
	}
	if reset {
		resetConn(w)
		return true
	}
	if !s.wait(r.Context(), c.latency+extra) {
		resetConn(w)
		return true
	}
	if fail {
		s.count(func(st *Stats) { st.InjectedErrors++ })
		writeError(w, c.errStatus, errorMessage(c.errStatus))
		return true
	}
	if malformed {
		s.count(func(st *Stats) { st.Malformed++ })
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, `{"id":"%s","embeddings":{"float":[[0.0123,-0.04`, newUUID())
		return true
	}
	return false
}

func errorMessage(status int) string {
	switch status {
	case http.StatusServiceUnavailable:
		return "service unavailable: too many users are trying to access the service at the same time"
	case http.StatusGatewayTimeout:
		return "request timed out: an internal service took too long to respond"
	default:
		return "internal server error, this has been reported to our developers"
	}
}

// resetConn drops the connection with a TCP RST so the client sees
// "connection reset by peer" rather than a clean EOF.
func resetConn(w http.ResponseWriter) {
	// Counted before the client can see it, so a test that reads the count
	// after its call failed finds it there.
	if sw, ok := w.(*statusWriter); ok && sw.onReset != nil {
		sw.onReset()
		sw.status = -1
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) //nolint:errcheck // best effort: a FIN is fine too
	}
	conn.Close()
}

// window is a sliding-window log of admitted units.
type window struct {
	at    []time.Time
	units []int
	sum   int
}

func (wd *window) trim(now time.Time, span time.Duration) {
	i := 0
	for i < len(wd.at) && now.Sub(wd.at[i]) >= span {
		wd.sum -= wd.units[i]
		i++
	}
	wd.at, wd.units = wd.at[i:], wd.units[i:]
}

// admit charges units to the group's rate limit; when the window is full it
// writes the 429 and returns false.
func (s *Server) admit(w http.ResponseWriter, group string, units int) bool {
	s.mu.Lock()
	lim, ok := s.cfg.limits[group]
	key := group
	if !ok {
		lim, ok = s.cfg.limits["*"]
		key = "*:" + group
	}
	if !ok {
		s.mu.Unlock()
		return true
	}
	wd := s.windows[key]
	if wd == nil {
		wd = &window{}
		s.windows[key] = wd
	}
	now := time.Now()
	wd.trim(now, lim.window)
	if wd.sum+units <= lim.n {
		wd.at = append(wd.at, now)
		wd.units = append(wd.units, units)
		wd.sum += units
		s.mu.Unlock()
		return true
	}
	// The earliest time enough units leave the window for this request.
	wait := lim.window
	free := lim.n - wd.sum
	for i := range wd.at {
		free += wd.units[i]
		if free >= units {
			wait = lim.window - now.Sub(wd.at[i])
			break
		}
	}
	s.st.RateLimited++
	retryAfter := s.cfg.retryAfter
	s.mu.Unlock()
	if retryAfter {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	}
	writeError(w, http.StatusTooManyRequests, RateLimitMessage)
	return false
}

// poisoned returns the index of the first poison text in texts, or -1.
func (s *Server) poisoned(texts []string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cfg.poison) == 0 {
		return -1
	}
	for i, t := range texts {
		if s.cfg.poison[t] {
			return i
		}
	}
	return -1
}
