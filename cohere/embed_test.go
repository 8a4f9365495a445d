package cohere

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestFloat32RoundTripBitExact(t *testing.T) {
	t.Parallel()
	values := []float32{0, 1, -1, 0.1, -7.402897e-5, 0.016296387, 1e-7, -1e-7, 1e21, 3.4028235e38, -3.4028235e38,
		math.SmallestNonzeroFloat32, math.MaxFloat32, 0.33333334, 123456.79}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		values = append(values, math.Float32frombits(rng.Uint32()&^(0xff<<23))) // finite: exponent not all ones
		values = append(values, float32(rng.NormFloat64()*0.05))
	}
	in := Embeddings{Float: [][]float32{values}}
	ours, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	std, err := json.Marshal(map[string][][]float32{"float": in.Float})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ours, std) {
		t.Fatalf("MarshalJSON differs from encoding/json:\n%.200s\n%.200s", ours, std)
	}
	var out Embeddings
	if err := json.Unmarshal(ours, &out); err != nil {
		t.Fatal(err)
	}
	for i, v := range values {
		if math.Float32bits(out.Float[0][i]) != math.Float32bits(v) {
			t.Fatalf("value %d: %v (%#x) came back as %v (%#x)", i, v, math.Float32bits(v), out.Float[0][i], math.Float32bits(out.Float[0][i]))
		}
	}
	// The v1 array shape decodes the same numbers.
	var v1 Embeddings
	arr, _ := json.Marshal(in.Float)
	if err := json.Unmarshal(arr, &v1); err != nil || !reflect.DeepEqual(v1.Float, out.Float) {
		t.Fatalf("v1 shape: err %v", err)
	}
}

func TestEmbeddingsDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Embeddings
	}{
		{"v1 floats array", `[[0.5,-1.25e-3],[2, 3]]`, Embeddings{Float: [][]float32{{0.5, -1.25e-3}, {2, 3}}}},
		{"empty array", `[]`, Embeddings{Float: [][]float32{}}},
		{"null", `null`, Embeddings{}},
		{"empty object", ` { } `, Embeddings{}},
		{"every type", `{"float":[[1.5]],"int8":[[-128,127]],"uint8":[[0,255]],"binary":[[-1,-128,127,0]],"ubinary":[[255,128]],"base64":["AAAA"]}`,
			Embeddings{Float: [][]float32{{1.5}}, Int8: [][]int8{{-128, 127}}, Uint8: [][]uint8{{0, 255}},
				Binary: [][]byte{{0xff, 0x80, 0x7f, 0x00}}, Ubinary: [][]byte{{255, 128}}, Base64: []string{"AAAA"}}},
		{"unknown keys and whitespace", "{\n \"future\": {\"a\":[1,{\"b\":\"]}\"}]}, \"float\" : [ [ 1 , 2 ] , null ] ,\"x\":\"y\\\"\",\"n\":-1.5e3,\"t\":true}",
			Embeddings{Float: [][]float32{{1, 2}, nil}}},
		{"escaped key", `{"flo\u0061t":[[7]]}`, Embeddings{Float: [][]float32{{7}}}},
		{"null element", `{"int8":[[1,null,3]]}`, Embeddings{Int8: [][]int8{{1, 0, 3}}}},
		{"null type", `{"float":null,"int8":[[1]]}`, Embeddings{Int8: [][]int8{{1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Embeddings
			if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestEmbeddingsDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in string }{
		{"flat array", `[1,2]`},
		{"string element", `{"float":[["a"]]}`},
		{"int8 overflow", `{"int8":[[128]]}`},
		{"uint8 negative", `{"uint8":[[-1]]}`},
		{"binary overflow", `{"binary":[[200]]}`},
		{"float32 overflow", `{"float":[[1e39]]}`},
		{"fraction in int8", `{"int8":[[1.5]]}`},
		{"number", `42`},
		{"base64 not strings", `{"base64":[1]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Embeddings
			if err := json.Unmarshal([]byte(tt.in), &got); err == nil {
				t.Errorf("no error for %s: %+v", tt.in, got)
			}
		})
	}
	// Called directly, without encoding/json's validation first.
	for _, in := range []string{`[[1,2]`, `[[1,,2]]`, `{"float"}`, `{"float":[[1]]`, `{"float":[[1]]} x`, `[[-]]`, `{"a":[}`, `{"a":"\`, `[[1 2]]`, `[["x"]]`, `{"x":tru`} {
		var got Embeddings
		if err := got.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("no error for %q: %+v", in, got)
		}
	}
}

func TestEmbeddingsMarshal(t *testing.T) {
	t.Parallel()
	e := Embeddings{Float: [][]float32{{1.5, 1e-7}}, Int8: [][]int8{{-3}}, Uint8: [][]uint8{{200}}, Binary: [][]byte{{0xff}}, Ubinary: [][]byte{{0xff}}, Base64: []string{"QQ=="}}
	got, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"float":[[1.5,1e-7]],"int8":[[-3]],"uint8":[[200]],"binary":[[-1]],"ubinary":[[255]],"base64":["QQ=="]}`
	if string(got) != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if _, err := json.Marshal(Embeddings{Float: [][]float32{{float32(math.NaN())}}}); err == nil {
		t.Error("NaN encoded without error")
	}
}

func FuzzEmbeddingsUnmarshal(f *testing.F) {
	for _, s := range []string{`[[1,2],[3]]`, `{"float":[[1.5]],"int8":[[-1]],"binary":[[-128]],"base64":["AA"]}`, `{"x":{"y":["]"]},"ubinary":[[1,null]]}`, `null`, `[[1e-45]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Embeddings
		if err := e.UnmarshalJSON(data); err != nil {
			return
		}
		// What decodes must encode and decode back to the same values.
		enc, err := json.Marshal(e)
		if err != nil {
			return // e.g. a float32 that is Inf cannot come from a valid parse
		}
		var again Embeddings
		if err := json.Unmarshal(enc, &again); err != nil {
			t.Fatalf("re-decode of %s: %v", enc, err)
		}
		if !reflect.DeepEqual(normalizeEmpty(e), normalizeEmpty(again)) {
			t.Fatalf("round trip changed %+v into %+v", e, again)
		}
	})
}

// normalizeEmpty maps empty slices to nil: the object form drops absent
// types, so [] and null are the same after a round trip.
func normalizeEmpty(e Embeddings) Embeddings {
	if len(e.Float) == 0 {
		e.Float = nil
	}
	if len(e.Int8) == 0 {
		e.Int8 = nil
	}
	if len(e.Uint8) == 0 {
		e.Uint8 = nil
	}
	if len(e.Binary) == 0 {
		e.Binary = nil
	}
	if len(e.Ubinary) == 0 {
		e.Ubinary = nil
	}
	if len(e.Base64) == 0 {
		e.Base64 = nil
	}
	return e
}

func TestEmbedRequestEncoding(t *testing.T) {
	t.Parallel()
	b := setup(t, serveJSON(200, `{"id":"x","embeddings":{"float":[[1]],"base64":["AA=="]},"texts":[]}`))
	resp, err := b.client.Embed(context.Background(), &EmbedRequest{
		Model: "embed-v4.0", InputType: InputSearchDocument,
		Inputs:          []EmbedInput{TextInput("hi"), ImageInput("data:image/png;base64,AA==")},
		EmbeddingTypes:  []EmbeddingType{EmbeddingFloat, EmbeddingBase64, "future-type"},
		OutputDimension: 256, MaxTokens: 512, Truncate: "NONE", Priority: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"embed-v4.0","input_type":"search_document","inputs":[{"content":[{"type":"text","text":"hi"}]},{"content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA=="}}]}],"embedding_types":["float","base64","future-type"],"output_dimension":256,"max_tokens":512,"truncate":"NONE","priority":2}`
	if got := string(b.requests()[0].Body); got != want {
		t.Errorf("sent %s\nwant %s", got, want)
	}
	if resp.Embeddings.Base64[0] != "AA==" || resp.Embeddings.Float[0][0] != 1 {
		t.Errorf("resp %+v", resp)
	}
}

func TestEmbedRefusedLocally(t *testing.T) {
	t.Parallel()
	texts := make([]string, MaxEmbedInputs+1)
	tests := []struct {
		name string
		v1   bool
		req  *EmbedRequest
		want string
	}{
		{"nil", false, nil, "nil request"},
		{"too many texts", false, &EmbedRequest{Texts: texts}, "97 inputs, at most 96"},
		{"nothing to embed", false, &EmbedRequest{Model: "m"}, "no texts"},
		{"v1 inputs", true, &EmbedRequest{Inputs: []EmbedInput{TextInput("a")}}, "Inputs needs /v2/embed"},
		{"v1 output dimension", true, &EmbedRequest{Texts: []string{"a"}, OutputDimension: 256}, "need /v2/embed"},
		{"v1 base64", true, &EmbedRequest{Texts: []string{"a"}, EmbeddingTypes: []EmbeddingType{EmbeddingBase64}}, "base64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, serveJSON(200, `{}`))
			var err error
			if tt.v1 {
				_, err = b.client.EmbedV1(context.Background(), tt.req)
			} else {
				_, err = b.client.Embed(context.Background(), tt.req)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
			if n := len(b.requests()); n != 0 {
				t.Errorf("sent %d requests", n)
			}
		})
	}
}
