package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// DefaultSinkIdle is how long a worker keeps an unused job's sink open: a
// job whose chunks all went to other workers ends without this worker
// seeing its finalize task.
const DefaultSinkIdle = 2 * time.Minute

// jobSinks holds the sinks a worker has open: one per job, shared by every
// handler working on the job, closed when the job ends or has been idle for
// idle. A long-running worker (-schedule) so holds no pool of a finished job.
type jobSinks struct {
	mu   sync.Mutex
	open map[string]*jobSink
	stop chan struct{} // stops the sweeper; nil until the first acquire
}

type jobSink struct {
	ready chan struct{} // closed once sink or err is set
	sink  Sink
	err   error
	users int
	last  time.Time
	ended bool // the job ended: close when the last user leaves
}

// acquire returns the job's sink, opening it on first use (once, however
// many handlers ask at the same moment), and a release to call when the
// handler is done with it.
func (js *jobSinks) acquire(ctx context.Context, job string, idle time.Duration, open func(context.Context) (Sink, error)) (Sink, func(), error) {
	js.mu.Lock()
	if js.open == nil {
		js.open = map[string]*jobSink{}
	}
	if js.stop == nil {
		js.stop = make(chan struct{})
		go js.sweeper(idle, js.stop)
	}
	stale := js.sweepLocked(idle)
	e, ok := js.open[job]
	if !ok {
		e = &jobSink{ready: make(chan struct{})}
		js.open[job] = e
	}
	e.users++
	js.mu.Unlock()
	closeAll(stale)
	if !ok {
		e.sink, e.err = open(ctx)
		close(e.ready)
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		js.release(job, e)
		return nil, nil, ctx.Err()
	}
	if e.err != nil {
		err := e.err
		js.mu.Lock()
		if js.open[job] == e {
			delete(js.open, job) // the next task tries again
		}
		e.users--
		js.mu.Unlock()
		return nil, nil, err
	}
	return e.sink, func() { js.release(job, e) }, nil
}

func (js *jobSinks) release(job string, e *jobSink) {
	js.mu.Lock()
	e.users--
	e.last = time.Now()
	var done Sink
	if e.users == 0 && e.ended && js.open[job] == e {
		delete(js.open, job)
		done = e.sink
	}
	js.mu.Unlock()
	if done != nil {
		_ = done.Close()
	}
}

// end closes the job's sink once no handler uses it any more.
func (js *jobSinks) end(job string) {
	js.mu.Lock()
	e, ok := js.open[job]
	var done Sink
	if ok {
		e.ended = true
		if e.users == 0 {
			delete(js.open, job)
			done = e.sink
		}
	}
	js.mu.Unlock()
	if done != nil {
		_ = done.Close()
	}
}

// sweepLocked takes out the sinks unused for longer than idle.
func (js *jobSinks) sweepLocked(idle time.Duration) []Sink {
	var stale []Sink
	for job, e := range js.open {
		if e.users == 0 && e.sink != nil && time.Since(e.last) > idle {
			delete(js.open, job)
			stale = append(stale, e.sink)
		}
	}
	return stale
}

// sweeper closes idle sinks of a worker that has no task to run.
func (js *jobSinks) sweeper(idle time.Duration, stop chan struct{}) {
	t := time.NewTicker(max(idle/2, time.Second))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			js.mu.Lock()
			stale := js.sweepLocked(idle)
			js.mu.Unlock()
			_ = closeAll(stale)
		}
	}
}

// closeAll closes every open sink (a worker shutting down).
func (js *jobSinks) closeAll() error {
	js.mu.Lock()
	if js.stop != nil {
		close(js.stop)
		js.stop = nil
	}
	var all []Sink
	for job, e := range js.open {
		if e.sink != nil {
			all = append(all, e.sink)
		}
		delete(js.open, job)
	}
	js.mu.Unlock()
	return closeAll(all)
}

func closeAll(ss []Sink) error {
	var errs []error
	for _, s := range ss {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// count is the number of sinks open.
func (js *jobSinks) count() int {
	js.mu.Lock()
	defer js.mu.Unlock()
	return len(js.open)
}

// job returns the spec and sink of a job and a release for the sink, shared
// while the job runs.
func (w *Worker) job(ctx context.Context, id string) (Spec, Sink, func(), error) {
	spec, err := w.Store.Spec(ctx, id)
	return w.hold(ctx, id, spec, err)
}

// hold is job with the spec just read from the store (or the error reading
// it). The spec is read on every task: a run of the job under the same id
// may have changed the options that may change (-force, -strict, the
// budget). The copy held serves when Redis cannot answer.
func (w *Worker) hold(ctx context.Context, id string, spec Spec, err error) (Spec, Sink, func(), error) {
	w.mu.Lock()
	held, ok := w.specs[id]
	w.mu.Unlock()
	if err != nil && !ok {
		return Spec{}, nil, nil, err
	}
	if err != nil {
		spec = held
	} else {
		w.mu.Lock()
		if w.specs == nil {
			w.specs = map[string]Spec{}
		}
		w.specs[id] = spec
		w.mu.Unlock()
	}
	idle := w.SinkIdle
	if idle <= 0 {
		idle = DefaultSinkIdle
	}
	sink, release, err := w.sinks.acquire(ctx, id, idle, func(ctx context.Context) (Sink, error) {
		return w.OpenSink(ctx, spec)
	})
	if err != nil {
		return spec, nil, nil, fmt.Errorf("open sink %s: %w", spec.Sink, err)
	}
	w.Metrics.jobPrice(id, spec.Price())
	return spec, sink, release, nil
}

// jobEnded forgets what the worker holds for a job that reached its end: its
// sink is closed as soon as no handler uses it.
func (w *Worker) jobEnded(job string) {
	w.mu.Lock()
	delete(w.specs, job)
	w.mu.Unlock()
	w.sinks.end(job)
	w.Metrics.jobEnded(job)
}

// Close closes every sink the worker holds open; call it after the queue
// server has stopped.
func (w *Worker) Close() error { return w.sinks.closeAll() }

// OpenSinks is the number of job sinks the worker holds open.
func (w *Worker) OpenSinks() int { return w.sinks.count() }
