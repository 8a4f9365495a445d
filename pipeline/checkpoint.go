package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/cobatch/cobatch/cohere"
	"github.com/cobatch/cobatch/pipeline/ratelimit"
	"github.com/cobatch/cobatch/sinks"
)

// A chunk reaches its sink in one write, at its end. Without a checkpoint a
// worker killed mid-chunk would leave every call the chunk had made to be
// paid again by its next delivery. The checkpoint keeps each call's results
// in the job store as the call returns, so that the next delivery pays only
// for the calls that had not returned: at most one call (MaxBatch texts) per
// handler of the lost worker. Embed chunks and the classify embed route
// (embedItems) and the classify route (classifyViaClassify) use it, through
// checkpointedCalls.
//
// Results are bytes (the operation encodes them) under the chunk, one field
// per text: the hash of the operation's fingerprint and the text's content
// hash. A changed text or another model never meets another's result, and
// the key sits under the job's own prefix. The chunk's key goes once its
// rows are written and recorded (Store.CompleteChunk), so Redis holds results
// only of chunks in progress or waiting for redelivery; the key's 24-hour
// TTL (pipeline/jobstore/checkpoint.go) removes those of a job that never
// comes back.

// checkpoint is one chunk's call results, for an operation with fingerprint
// fp.
type checkpoint struct {
	st    *Store
	job   string
	chunk int
	fp    [32]byte
}

func newCheckpoint(st *Store, spec Spec, chunk int) checkpoint {
	return checkpoint{st: st, job: spec.ID, chunk: chunk, fp: sha256.Sum256([]byte(spec.Op + "|" + spec.Fingerprint()))}
}

// field names a text's result: its content hash under the fingerprint.
func (c checkpoint) field(sha [32]byte) string {
	h := sha256.New()
	h.Write(c.fp[:])
	h.Write(sha[:])
	return hex.EncodeToString(h.Sum(nil))
}

// savedResults returns the results the checkpoint holds for items, by
// content hash; one that does not decode is left out, to be paid again.
func savedResults[T any](ctx context.Context, c checkpoint, items []item, decode func([]byte) (T, error)) (map[[32]byte]T, error) {
	uniq, _ := distinct(items)
	fields := make([]string, len(uniq))
	for i, it := range uniq {
		fields[i] = c.field(it.sha)
	}
	vals, err := c.st.CallResults(ctx, c.job, c.chunk, fields)
	if err != nil {
		return nil, fmt.Errorf("load chunk %d's call results: %w", c.chunk, err)
	}
	out := map[[32]byte]T{}
	for i, b := range vals {
		if b == nil {
			continue
		}
		if v, err := decode(b); err == nil {
			out[uniq[i].sha] = v
		}
	}
	return out, nil
}

// saveResults checkpoints one call's results, one per item; a result that
// appends nothing (a rejected text) is left out.
//
// The call's results are encoded back to back into one of a few shared
// buffers, each field's value a slice of it. An embed call's vectors are as
// large again encoded (about 600 KB for MaxBatch 1536-d floats): a fresh
// copy per call would be that much garbage for every call of every handler,
// and a buffer per handler that much heap held for each. Redis serves one
// command at a time: more buffers would only queue there.
func saveResults[T any](ctx context.Context, c checkpoint, items []item, results []T, encode func([]byte, T) []byte) error {
	var buf []byte
	select {
	case buf = <-encodeBuffers:
	case <-ctx.Done():
		return ctx.Err()
	}
	buf = buf[:0]
	kv := make(map[string][]byte, len(items))
	for i, it := range items {
		start := len(buf)
		// Values already in kv keep the array they were appended to if
		// buf grows: their bytes stay as written.
		if buf = encode(buf, results[i]); len(buf) > start {
			kv[c.field(it.sha)] = buf[start:len(buf):len(buf)]
		}
	}
	err := c.st.SaveCallResults(ctx, c.job, c.chunk, kv)
	// The command is sent and answered: nothing reads the bytes any more.
	if cap(buf) > maxEncodeBuffer {
		buf = nil
	}
	encodeBuffers <- buf
	return err
}

// encodeBuffers holds saveResults' buffers, as many as calls that may be
// checkpointed at once.
var encodeBuffers = func() chan []byte {
	c := make(chan []byte, 4)
	for range cap(c) {
		c <- nil
	}
	return c
}()

// maxEncodeBuffer keeps an outsized call's buffer from being held.
const maxEncodeBuffer = 4 << 20

// checkpointedCalls makes the calls for the items the checkpoint holds no
// result for, size distinct texts a call, and checkpoints each call's
// results as it returns. result gives an item's result, nil with the API's
// reason for a text it rejected. Embed (embedItems, which the classify
// embed route uses too) and the classify route call through it.
//
// With fill naming an endpoint (embed, whose limit counts texts), each call
// is cut to what the endpoint limiter's window has room for, down to a
// quarter of size, and its grant is taken before the call (prepay): a window
// is filled to its limit, not left with fewer units than the next call of
// size needs.
func checkpointedCalls[T any](ctx context.Context, d *Deps, ck checkpoint, items []item, size int, fill string,
	call func(ctx context.Context, batch []item, res []*T, reasons []string) error,
	encode func([]byte, *T) []byte, decode func([]byte) (*T, error)) (result func(item) (*T, string), err error) {
	saved, err := savedResults(ctx, ck, items, decode)
	if err != nil {
		return nil, err
	}
	todo := make([]item, 0, len(items))
	for _, it := range items {
		if saved[it.sha] == nil {
			todo = append(todo, it)
		}
	}
	uniq, first := distinct(todo)
	res := make([]*T, len(uniq))
	reasons := make([]string, len(uniq))
	var lim Limiter
	if fill != "" {
		lim = d.Limiter(fill)
	}
	for lo, hi := 0, 0; lo < len(uniq); lo = hi {
		hi = min(lo+size, len(uniq))
		cctx := ctx
		var grant *ratelimit.Grant
		if lim != nil {
			if grant, err = lim.AcquireUpTo(ctx, hi-lo, (size+3)/4); err != nil {
				return nil, err
			}
			if n := grant.Units(); n > 0 && n <= hi-lo {
				hi = lo + n
			}
			cctx = prepay(ctx, fill, grant)
		}
		err := call(cctx, uniq[lo:hi], res[lo:hi], reasons[lo:hi])
		if grant != nil {
			grant.Unused(ctx) // a no-op once the call has reported it
		}
		if err != nil {
			return nil, err
		}
		if err := saveResults(ctx, ck, uniq[lo:hi], res[lo:hi], encode); err != nil {
			// Only the protection is lost: the results are in hand.
			d.log().Warn("call results not checkpointed", "job", ck.job, "chunk", ck.chunk, "err", err)
		}
	}
	return func(it item) (*T, string) {
		if v := saved[it.sha]; v != nil {
			return v, ""
		}
		u := first[it.sha]
		return res[u], reasons[u]
	}, nil
}

// appendVerdict checkpoints a classification as JSON, which Go reads back
// exactly (float64 included), without the input text the API echoes: no
// text goes to Redis. No verdict (a rejected text) appends nothing.
func appendVerdict(dst []byte, v *cohere.Classification) []byte {
	if v == nil {
		return dst
	}
	c := *v
	c.Input = ""
	b, _ := json.Marshal(c)
	return append(dst, b...)
}

func decodeVerdict(b []byte) (*cohere.Classification, error) {
	v := &cohere.Classification{}
	return v, json.Unmarshal(b, v)
}

// appendEmbedding packs a vector's four kinds as length-prefixed runs, the
// floats as their IEEE 754 bits: decoded, it is bit for bit what the API
// returned (base64 or JSON on the wire alike), 4 bytes a dimension. No
// vector (a rejected text) appends nothing.
func appendEmbedding(b []byte, e *sinks.Embedding) []byte {
	if e == nil {
		return b
	}
	if n := 4*binary.MaxVarintLen32 + 4*len(e.Float) + len(e.Int8) + len(e.Uint8) + len(e.Binary); cap(b)-len(b) < n {
		// Doubled, where append would add a quarter to a large slice: a
		// call's buffer (saveResults) reaches its size in a few steps.
		b = append(make([]byte, 0, 2*cap(b)+n), b...)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Float)))
	for _, f := range e.Float {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(f))
	}
	b = binary.AppendUvarint(b, uint64(len(e.Int8)))
	for _, v := range e.Int8 {
		b = append(b, byte(v))
	}
	b = binary.AppendUvarint(b, uint64(len(e.Uint8)))
	b = append(b, e.Uint8...)
	b = binary.AppendUvarint(b, uint64(len(e.Binary)))
	return append(b, e.Binary...)
}

var errBadCheckpoint = errors.New("malformed checkpointed embedding")

// decodeEmbedding reverses appendEmbedding; an empty run stays nil, as the
// response left it.
func decodeEmbedding(b []byte) (*sinks.Embedding, error) {
	run := func(size int) ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k)/uint64(size) {
			return nil, errBadCheckpoint
		}
		r := b[k : k+int(n)*size]
		b = b[k+int(n)*size:]
		return r, nil
	}
	e := &sinks.Embedding{}
	floats, err := run(4)
	if err != nil {
		return nil, err
	}
	if len(floats) > 0 {
		e.Float = make([]float32, len(floats)/4)
		for i := range e.Float {
			e.Float[i] = math.Float32frombits(binary.LittleEndian.Uint32(floats[4*i:]))
		}
	}
	int8s, err := run(1)
	if err != nil {
		return nil, err
	}
	if len(int8s) > 0 {
		e.Int8 = make([]int8, len(int8s))
		for i, v := range int8s {
			e.Int8[i] = int8(v)
		}
	}
	uint8s, err := run(1)
	if err != nil {
		return nil, err
	}
	bins, err := run(1)
	if err != nil || len(b) != 0 {
		return nil, errBadCheckpoint
	}
	if len(uint8s) > 0 {
		e.Uint8 = uint8s
	}
	if len(bins) > 0 {
		e.Binary = bins
	}
	return e, nil
}
