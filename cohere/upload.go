package cohere

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"sync/atomic"
	"time"
)

// upload is the streamed multipart body of a dataset upload.
type upload struct {
	parts []*uploadPart
}

type uploadPart struct {
	field, filename string
	r               io.Reader
	// start is the reader's offset when the call began; -1 if it cannot seek.
	start int64
	read  atomic.Int64
}

// mark records where each seekable reader starts.
func (u *upload) mark() error {
	for _, p := range u.parts {
		p.start = -1
		if s, ok := p.r.(io.Seeker); ok {
			off, err := s.Seek(0, io.SeekCurrent)
			if err != nil {
				return fmt.Errorf("%s: seek: %w", p.field, err)
			}
			p.start = off
		}
	}
	return nil
}

// resendable reports whether every part can be sent again: it was not
// read yet, or it can seek back to its start.
func (u *upload) resendable() bool {
	for _, p := range u.parts {
		if p.read.Load() > 0 && p.start < 0 {
			return false
		}
	}
	return true
}

// rewind seeks the parts that were read back to their start.
func (u *upload) rewind() error {
	for _, p := range u.parts {
		if p.read.Load() == 0 {
			continue
		}
		if _, err := p.r.(io.Seeker).Seek(p.start, io.SeekStart); err != nil {
			return &finalError{err: fmt.Errorf("%s: rewind: %w", p.field, err)}
		}
		p.read.Store(0)
	}
	return nil
}

func (p *uploadPart) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.read.Add(int64(n))
	return n, err
}

// errUploadAborted ends the body writer when the exchange is over early.
var errUploadAborted = errors.New("upload aborted")

// uploadAttempt streams the parts through a pipe: a goroutine writes the
// multipart encoding while the transport reads it, so memory use does not
// depend on the size of the data.
func (c *Client) uploadAttempt(ctx context.Context, endpoint string, up *upload, out any) error {
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	dog := newWatchdog(c.cfg.Timeout, cancel)
	defer dog.stop()

	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	written := make(chan error, 1)
	go func() {
		err := writeParts(mw, up.parts)
		pw.CloseWithError(err)
		written <- err
	}()

	req, err := http.NewRequestWithContext(actx, http.MethodPost, endpoint, &kickReader{r: pr, dog: dog})
	if err != nil {
		pr.CloseWithError(errUploadAborted)
		<-written
		return fmt.Errorf("build request: %w", err)
	}
	c.setHeaders(req)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.cfg.HTTPClient.Do(req)
	// Unblock the writer if the server answered before reading everything.
	pr.CloseWithError(errUploadAborted)
	werr := <-written
	if werr != nil && !errors.Is(werr, errUploadAborted) && !errors.Is(werr, io.ErrClosedPipe) {
		if resp != nil {
			closeBody(resp.Body)
		}
		// The source failed, not the network: a retry would fail the same way.
		return &finalError{err: fmt.Errorf("read upload data: %w", werr)}
	}
	if err != nil {
		return c.transportError(ctx, actx, err)
	}
	defer closeBody(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newAPIError(resp, c.cfg.APIKey, c.now(), c.cfg.Retry.MaxRetryAfter)
	}
	dog.kick()
	return c.decode(ctx, actx, &kickReader{r: resp.Body, dog: dog}, resp.ContentLength, out)
}

func writeParts(mw *multipart.Writer, parts []*uploadPart) error {
	for _, p := range parts {
		w, err := mw.CreateFormFile(p.field, p.filename)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, p); err != nil {
			return err
		}
	}
	return mw.Close()
}

// watchdog cancels a transfer that makes no progress for d.
type watchdog struct {
	d     time.Duration
	timer *time.Timer
}

func newWatchdog(d time.Duration, cancel context.CancelCauseFunc) *watchdog {
	return &watchdog{d: d, timer: time.AfterFunc(d, func() { cancel(errStalled) })}
}

func (w *watchdog) kick() { w.timer.Reset(w.d) }
func (w *watchdog) stop() { w.timer.Stop() }

// kickReader reports progress to a watchdog.
type kickReader struct {
	r   io.Reader
	dog *watchdog
}

func (k *kickReader) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if n > 0 {
		k.dog.kick()
	}
	return n, err
}
