package coheretest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/cobatch/cobatch/cohere/coheretest"
)

func Example() {
	srv := coheretest.NewServer(coheretest.WithRateLimit("embed", 2000, time.Minute))
	defer srv.Close()

	body, _ := json.Marshal(map[string]any{
		"model": "embed-v4.0", "input_type": "search_document", "texts": []string{"hello world"},
		"output_dimension": 256,
	})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v2/embed", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+coheretest.DefaultAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var out struct {
		Embeddings struct {
			Float [][]float32 `json:"float"`
		} `json:"embeddings"`
	}
	json.NewDecoder(resp.Body).Decode(&out) //nolint:errcheck // example

	want := coheretest.Embedding("embed-v4.0", "search_document", "hello world", coheretest.Dims("embed-v4.0", 256))
	fmt.Println(resp.StatusCode, len(out.Embeddings.Float[0]), slices.Equal(out.Embeddings.Float[0], want))
	fmt.Println(srv.EmbedCount("hello world"), srv.Stats().BilledInputTokens)
	// Output:
	// 200 256 true
	// 1 3
}
