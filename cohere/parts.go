package cohere

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
)

// ReadDatasetPart streams the Avro object container file at rawURL (a
// DatasetPart.URL, usually pre-signed on a storage host) and calls fn once
// per row, in file order. Union values are unwrapped, so a nullable array
// arrives as []any or nil. fn's error stops the read and is returned.
//
// The API key is sent only when rawURL is on BaseURL's scheme and host;
// a relative rawURL is resolved against BaseURL. Opening the file is
// retried like any call; a failure after rows were handed to fn is not,
// since fn would see them twice. Config.Timeout is an inactivity timeout.
// Errors never show the URL's query, which holds its signature.
func (c *Client) ReadDatasetPart(ctx context.Context, rawURL string, fn func(row map[string]any) error) error {
	return c.readPart(ctx, rawURL, func(r io.Reader) error {
		dec, err := ocf.NewDecoder(r)
		if err != nil {
			return err
		}
		if err := eachGenericRow(dec, fn); err != nil {
			return err
		}
		return dec.Error()
	})
}

// eachGenericRow decodes every row as a map, unions unwrapped.
func eachGenericRow(dec *ocf.Decoder, fn func(row map[string]any) error) error {
	schema := dec.Schema()
	for dec.HasNext() {
		var row map[string]any
		if err := dec.Decode(&row); err != nil {
			return fmt.Errorf("decode row: %w", err)
		}
		unwrapped, _ := unwrapUnions(schema, row).(map[string]any)
		if err := fn(unwrapped); err != nil {
			return errStop{err}
		}
	}
	return nil
}

// errStop carries the row callback's error through readPart unchanged.
type errStop struct{ err error }

func (e errStop) Error() string { return e.err.Error() }

// readPart opens the part at rawURL (see ReadDatasetPart) and hands its
// body to read.
func (c *Client) readPart(ctx context.Context, rawURL string, read func(r io.Reader) error) error {
	const op = "GET dataset part"
	u, err := c.base.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("cohere: %s: invalid URL", op)
	}
	// Each attempt gets its own inactivity watchdog; the one of the attempt
	// that succeeds keeps guarding the stream.
	var (
		body     io.ReadCloser
		actx     context.Context
		dog      *watchdog
		finished []func()
	)
	defer func() {
		for _, f := range finished {
			f()
		}
	}()
	err = c.retry(ctx, op, func(ctx context.Context) error {
		attemptCtx, cancel := context.WithCancelCause(ctx)
		attemptDog := newWatchdog(c.cfg.Timeout, cancel)
		finished = append(finished, attemptDog.stop, func() { cancel(nil) })
		req, err := http.NewRequestWithContext(attemptCtx, http.MethodGet, u.String(), nil)
		if err != nil {
			return fmt.Errorf("build request: %w", err)
		}
		if c.sameOrigin(u) {
			c.setHeaders(req)
		}
		req.Header.Set("Accept", "application/octet-stream, application/avro, */*")
		resp, err := c.cfg.HTTPClient.Do(req)
		if err != nil {
			return redactURL(c.transportError(ctx, attemptCtx, err))
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			defer closeBody(resp.Body)
			return newAPIError(resp, c.cfg.APIKey, c.now(), c.cfg.Retry.MaxRetryAfter)
		}
		body, actx, dog = resp.Body, attemptCtx, attemptDog
		return nil
	})
	if err != nil {
		return err
	}
	defer closeBody(body)

	if err := read(&kickReader{r: body, dog: dog}); err != nil {
		if stop, ok := err.(errStop); ok {
			return stop.err
		}
		return fmt.Errorf("cohere: %s: %w", op, redactURL(c.transportError(ctx, actx, err)))
	}
	return nil
}

// sameOrigin reports whether u is on the API's scheme and host, the only
// place the key may go.
func (c *Client) sameOrigin(u *url.URL) bool {
	return strings.EqualFold(u.Scheme, c.base.Scheme) && strings.EqualFold(u.Host, c.base.Host)
}

// redactURL drops the query from a *url.Error's URL.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.RawQuery != "" {
			u.RawQuery = "<redacted>"
			ue.URL = u.String()
		}
	}
	return err
}

// unwrapUnions removes the {"type name": value} wrappers the generic
// decoder puts around non-null union values, guided by the schema.
func unwrapUnions(s avro.Schema, v any) any {
	switch sc := s.(type) {
	case *avro.RefSchema:
		return unwrapUnions(sc.Schema(), v)
	case *avro.UnionSchema:
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			for name, inner := range m {
				if t, _ := sc.Types().Get(name); t != nil {
					return unwrapUnions(t, inner)
				}
			}
		}
		for _, t := range sc.Types() {
			if t.Type() != avro.Null {
				if _, isRecord := t.(*avro.RecordSchema); isRecord {
					return unwrapUnions(t, v)
				}
			}
		}
		return v
	case *avro.RecordSchema:
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		for _, f := range sc.Fields() {
			if fv, present := m[f.Name()]; present {
				m[f.Name()] = unwrapUnions(f.Type(), fv)
			}
		}
		return m
	case *avro.ArraySchema:
		if arr, ok := v.([]any); ok {
			for i := range arr {
				arr[i] = unwrapUnions(sc.Items(), arr[i])
			}
		}
		return v
	case *avro.MapSchema:
		if m, ok := v.(map[string]any); ok {
			for k := range m {
				m[k] = unwrapUnions(sc.Values(), m[k])
			}
		}
		return v
	}
	return v
}

// EmbedJobRow is one row of an embed job's output: the input text, its
// embedding in each requested type, and the fields the dataset kept.
type EmbedJobRow struct {
	Text       string
	Embeddings Embedding
	// Fields holds every other column (keep_fields, optional_fields).
	Fields map[string]any
}

// Embedding is one input's vector in each type; types not requested are nil.
type Embedding struct {
	Float   []float32
	Int8    []int8
	Uint8   []uint8
	Binary  []byte
	Ubinary []byte
}

// ReadEmbedJobOutput reads one part of an embed job's output dataset (see
// [Client.ReadDatasetPart]) as typed rows.
func (c *Client) ReadEmbedJobOutput(ctx context.Context, rawURL string, fn func(EmbedJobRow) error) error {
	return c.readPart(ctx, rawURL, func(r io.Reader) error { return readEmbedJobRows(r, fn) })
}

func embedJobRow(row map[string]any) (EmbedJobRow, error) {
	out := EmbedJobRow{Fields: map[string]any{}}
	for k, v := range row {
		switch k {
		case "text":
			s, ok := v.(string)
			if !ok && v != nil {
				return out, fmt.Errorf("text is %T, not a string", v)
			}
			out.Text = s
		case "embeddings":
			m, ok := v.(map[string]any)
			if !ok && v != nil {
				return out, fmt.Errorf("embeddings is %T, not a record", v)
			}
			var err error
			if out.Embeddings, err = embeddingFromAvro(m); err != nil {
				return out, err
			}
		default:
			out.Fields[k] = v
		}
	}
	return out, nil
}

func embeddingFromAvro(m map[string]any) (Embedding, error) {
	var e Embedding
	var err error
	if e.Float, err = convertVector(m["float"], func(f float64) float32 { return float32(f) }); err != nil {
		return e, fmt.Errorf("float: %w", err)
	}
	if e.Int8, err = convertVector(m["int8"], func(f float64) int8 { return int8(f) }); err != nil {
		return e, fmt.Errorf("int8: %w", err)
	}
	if e.Uint8, err = bytesVector(m["uint8"], false); err != nil {
		return e, fmt.Errorf("uint8: %w", err)
	}
	if e.Binary, err = bytesVector(m["binary"], true); err != nil {
		return e, fmt.Errorf("binary: %w", err)
	}
	if e.Ubinary, err = bytesVector(m["ubinary"], false); err != nil {
		return e, fmt.Errorf("ubinary: %w", err)
	}
	return e, nil
}

// convertVector turns an Avro array of any numeric type into []T.
func convertVector[T any](v any, conv func(float64) T) ([]T, error) {
	switch arr := v.(type) {
	case nil:
		return nil, nil
	case []float32:
		out := make([]T, len(arr))
		for i, x := range arr {
			out[i] = conv(float64(x))
		}
		return out, nil
	case []any:
		out := make([]T, len(arr))
		for i, x := range arr {
			f, ok := number(x)
			if !ok {
				return nil, fmt.Errorf("element %d is %T, not a number", i, x)
			}
			out[i] = conv(f)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%T is not an array", v)
}

// bytesVector accepts Avro bytes or an array of ints; signed ints
// (-128..127) become their two's-complement bytes.
func bytesVector(v any, signed bool) ([]byte, error) {
	if b, ok := v.([]byte); ok {
		return b, nil
	}
	return convertVector(v, func(f float64) byte {
		if signed {
			return byte(int8(f))
		}
		return byte(f)
	})
}

func number(x any) (float64, bool) {
	switch n := x.(type) {
	case float32:
		return float64(n), true
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// BatchOutputRow is one row of a batch's output: the request's custom_id
// and the API's answer as JSON (for batch embed, an [EmbedResponse]).
// Outputs have repeated rows: join on CustomID.
type BatchOutputRow struct {
	CustomID string
	Body     json.RawMessage
}

// ReadBatchOutput reads one part of a batch's output dataset (see
// [Client.ReadDatasetPart]) as typed rows.
func (c *Client) ReadBatchOutput(ctx context.Context, rawURL string, fn func(BatchOutputRow) error) error {
	return c.ReadDatasetPart(ctx, rawURL, func(row map[string]any) error {
		var out BatchOutputRow
		out.CustomID, _ = row["custom_id"].(string)
		switch b := row["body"].(type) {
		case string:
			out.Body = json.RawMessage(b)
		case []byte:
			out.Body = json.RawMessage(b)
		case nil:
		default:
			enc, err := json.Marshal(b)
			if err != nil {
				return fmt.Errorf("cohere: batch output: body: %w", err)
			}
			out.Body = enc
		}
		return fn(out)
	})
}
