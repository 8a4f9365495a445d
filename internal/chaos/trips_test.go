package chaos

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"
)

// trips fires a scenario's faults from inside the in-process fake: when the
// job's embed calls reach at[i], fault i is due, and every later call waits
// until the scenario has fired it. However fast the job runs, it cannot end
// before its faults.
type trips struct {
	at    []int64 // embed call numbers, strictly increasing
	calls atomic.Int64
	due   chan int
	fired []chan struct{}
}

// holdAtMost bounds how long a call waits for a fault that is never fired
// (a broken scenario): the job then ends and the scenario fails its count.
const holdAtMost = 2 * time.Minute

func newTrips(at []int64) *trips {
	tr := &trips{at: at, due: make(chan int, len(at))}
	for range at {
		tr.fired = append(tr.fired, make(chan struct{}))
	}
	return tr
}

// hook is the fake's fault hook; it only delays calls, never answers one.
func (tr *trips) hook(r *http.Request, _ []byte) (int, string, bool) {
	if r.URL.Path != "/v2/embed" {
		return 0, "", false
	}
	n := tr.calls.Add(1)
	for i, a := range tr.at {
		if n == a {
			tr.due <- i
		}
		if n <= a {
			break
		}
		select {
		case <-tr.fired[i]:
		case <-r.Context().Done():
			return 0, "", false
		case <-time.After(holdAtMost):
		}
	}
	return 0, "", false
}

// next waits until the next fault is due and returns its index; false when
// ctx ended first.
func (tr *trips) next(ctx context.Context) (int, bool) {
	select {
	case i := <-tr.due:
		return i, true
	case <-ctx.Done():
		return 0, false
	}
}

// fire lets the calls held back by fault i go on.
func (tr *trips) fire(i int) { close(tr.fired[i]) }

// minCalls is the fewest embed calls a job over the corpus can make: every
// chunk embeds each of its distinct texts at least once, at most 96 a call.
func (c corpus) minCalls(chunkSize int) int64 {
	var calls int64
	for start := 0; start < len(c.ids); start += chunkSize {
		seen := map[string]bool{}
		for _, id := range c.ids[start:min(start+chunkSize, len(c.ids))] {
			seen[c.texts[id]] = true
		}
		calls += int64((len(seen) + 95) / 96)
	}
	return calls
}

// spread returns n call numbers spread evenly over the first two thirds of
// a job of at least calls calls.
func spread(n int, calls int64) []int64 {
	at := make([]int64, n)
	for i := range at {
		at[i] = max(int64(i+1), 2*calls*int64(i+1)/int64(3*n))
	}
	return at
}
