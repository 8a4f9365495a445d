package coheretest

import "sync"

// vectorCache keeps recent texts' vectors and their base64 form per model,
// input type and size, so texts served again (retries, re-runs, several
// types in one call) are computed and encoded once. It holds at most
// vectorCacheBytes of floats and strings and starts afresh when full.
type vectorCache struct {
	mu    sync.Mutex
	m     map[vectorKey]*cachedVector
	bytes int
}

type vectorKey struct {
	model, input, text string
	dims               int
}

type cachedVector struct {
	v    []float32
	once sync.Once
	b64  string
}

const vectorCacheBytes = 64 << 20

var vectors = vectorCache{m: map[vectorKey]*cachedVector{}}

func (c *vectorCache) get(model, input, text string, dims int) *cachedVector {
	k := vectorKey{model, input, text, dims}
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return e
	}
	e = &cachedVector{v: Embedding(model, input, text, dims)}
	size := 4*dims + (4*dims+2)/3*4 + len(text)
	c.mu.Lock()
	if c.bytes+size > vectorCacheBytes {
		clear(c.m)
		c.bytes = 0
	}
	c.m[k] = e
	c.bytes += size
	c.mu.Unlock()
	return e
}

// base64 is the vector's "base64" form, encoded on first use.
func (e *cachedVector) base64() string {
	e.once.Do(func() { e.b64 = Base64(e.v) })
	return e.b64
}
