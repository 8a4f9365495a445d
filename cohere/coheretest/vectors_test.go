package coheretest

import (
	"encoding/base64"
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestEmbeddingDeterministicAndNormalised(t *testing.T) {
	t.Parallel()
	a := Embedding("embed-v4.0", "search_document", "The quick brown fox", 1536)
	b := Embedding("embed-v4.0", "search_document", "The quick brown fox", 1536)
	if !slices.Equal(a, b) {
		t.Fatal("same arguments gave different vectors")
	}
	if len(a) != 1536 {
		t.Fatalf("len = %d, want 1536", len(a))
	}
	var n float64
	for _, x := range a {
		n += float64(x) * float64(x)
	}
	if math.Abs(n-1) > 1e-5 {
		t.Fatalf("squared norm = %v, want 1", n)
	}
	if slices.Equal(a, Embedding("embed-english-v3.0", "search_document", "The quick brown fox", 1536)) {
		t.Fatal("different models gave the same vector")
	}
	if Embedding("m", "", "x", 0) != nil {
		t.Fatal("dims 0 should give nil")
	}
}

func TestEmbeddingSharedWordsAreCloser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, a, b, c string // cos(a,b) must exceed cos(a,c)
	}{
		{"shared words vs disjoint", "red apples and green pears", "green pears are sweet", "the stock market fell today"},
		{"query vs document of the same text", "capital of france", "capital of france", "capital of spain"},
		{"case and punctuation ignored", "Hello, World!", "hello world", "goodbye moon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ea := Embedding("embed-v4.0", "search_query", tt.a, 1024)
			eb := Embedding("embed-v4.0", "search_document", tt.b, 1024)
			ec := Embedding("embed-v4.0", "search_document", tt.c, 1024)
			if cb, cc := cosine(ea, eb), cosine(ea, ec); cb <= cc {
				t.Fatalf("cos(a,b)=%v <= cos(a,c)=%v", cb, cc)
			}
		})
	}
}

func TestDims(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		model string
		od    int
		want  int
	}{
		{"v4 default", "embed-v4.0", 0, 1536},
		{"v4 256", "embed-v4.0", 256, 256},
		{"v4 512", "embed-v4.0", 512, 512},
		{"v4 1024", "embed-v4.0", 1024, 1024},
		{"v4 invalid", "embed-v4.0", 300, 0},
		{"v4 family", "embed-v4.1-preview", 0, 1536},
		{"light v3", "embed-english-light-v3.0", 0, 384},
		{"multilingual light", "embed-multilingual-light-v3.0", 512, 384},
		{"v3", "embed-english-v3.0", 0, 1024},
		{"v3 ignores output dimension", "embed-multilingual-v3.0", 256, 1024},
		{"anything else", "my-model", 0, 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Dims(tt.model, tt.od); got != tt.want {
				t.Fatalf("Dims(%q, %d) = %d, want %d", tt.model, tt.od, got, tt.want)
			}
		})
	}
}

func TestDerivedTypes(t *testing.T) {
	t.Parallel()
	v := []float32{0.5, -0.25, 0, 1, -1, 0.1, 0.2, -0.3, 0.9, -0.9}
	if got, want := Int8(v), []int8{64, -32, 0, 127, -127, 13, 25, -38, 114, -114}; !slices.Equal(got, want) {
		t.Fatalf("Int8 = %v, want %v", got, want)
	}
	if got, want := Uint8(v), []uint8{192, 96, 128, 255, 1, 141, 153, 90, 242, 14}; !slices.Equal(got, want) {
		t.Fatalf("Uint8 = %v, want %v", got, want)
	}
	// bits: 1 0 0 1 0 1 1 0 | 1 0 -> 0b10010110, 0b10000000
	if got, want := Ubinary(v), []uint8{0x96, 0x80}; !slices.Equal(got, want) {
		t.Fatalf("Ubinary = %v, want %v", got, want)
	}
	if got, want := Binary(v), []int8{0x96 - 128, 0x80 - 128}; !slices.Equal(got, want) {
		t.Fatalf("Binary = %v, want %v", got, want)
	}
	e := Embedding("embed-v4.0", "search_document", "lengths", 1536)
	if len(Int8(e)) != 1536 || len(Uint8(e)) != 1536 || len(Binary(e)) != 192 || len(Ubinary(e)) != 192 {
		t.Fatal("derived lengths are not dims and dims/8")
	}
	raw, err := base64.StdEncoding.DecodeString(Base64(v))
	if err != nil || len(raw) != 4*len(v) {
		t.Fatalf("base64: %v, %d bytes", err, len(raw))
	}
	for i, x := range v {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); got != x {
			t.Fatalf("base64[%d] = %v, want %v", i, got, x)
		}
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want int
	}{
		{"empty", "", 0},
		{"short", "hi", 1},
		{"exact four", "abcd", 1},
		{"five", "abcde", 2},
		{"fixture", "tokenize me! :D", 4},
		{"multibyte not split", "ééé", 2}, // 6 bytes: "éé" + "é"
		{"long", strings.Repeat("a", 4000), 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Tokens(tt.text); got != tt.want {
				t.Fatalf("Tokens(%q) = %d, want %d", tt.text, got, tt.want)
			}
			var back strings.Builder
			for _, p := range tokenPieces(tt.text) {
				s, ok := pieceFromID(tokenID(p))
				if !ok {
					t.Fatalf("piece %q does not round-trip", p)
				}
				back.WriteString(s)
			}
			if back.String() != tt.text {
				t.Fatalf("round trip = %q", back.String())
			}
		})
	}
}
