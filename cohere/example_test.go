package cohere_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cobatch/cobatch/cohere"
	"github.com/hamba/avro/v2/ocf"
)

func ExampleClient_Embed() {
	// A stand-in for api.cohere.com that answers like /v2/embed.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"id":"e1","texts":["hello","goodbye"],
			"embeddings":{"float":[[0.016296387,-0.5],[0.04663086,0.25]],"int8":[[2,-64],[6,32]]},
			"meta":{"api_version":{"version":"2"},"billed_units":{"input_tokens":2}}}`)
	}))
	defer srv.Close()

	client, err := cohere.New(cohere.Config{BaseURL: srv.URL, APIKey: "my-key"})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.Embed(context.Background(), &cohere.EmbedRequest{
		Model:          "embed-v4.0",
		InputType:      cohere.InputSearchDocument,
		Texts:          []string{"hello", "goodbye"},
		EmbeddingTypes: []cohere.EmbeddingType{cohere.EmbeddingFloat, cohere.EmbeddingInt8},
	})
	switch {
	case cohere.IsFatal(err):
		log.Fatalf("stop the job: %v", err)
	case cohere.IsRateLimited(err):
		log.Printf("wait and retry later: %v", err)
		return
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println(len(resp.Embeddings.Float), "vectors of", len(resp.Embeddings.Float[0]), "dims")
	fmt.Println(resp.Embeddings.Float[0][0], resp.Embeddings.Int8[1])
	fmt.Println("billed input tokens:", resp.Meta.BilledUnits.InputTokens)
	// Output:
	// 2 vectors of 2 dims
	// 0.016296387 [6 32]
	// billed input tokens: 2
}

func ExampleClient_CreateEmbedJob() {
	srv := newEmbedJobServer()
	defer srv.Close()
	client, err := cohere.New(cohere.Config{BaseURL: srv.URL, APIKey: "my-key"})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// 1. Upload the input as a dataset (streamed, any size) and wait for it.
	input := strings.NewReader(`{"text":"hello","id":"a"}` + "\n" + `{"text":"goodbye","id":"b"}` + "\n")
	datasetID, err := client.CreateDataset(ctx, cohere.DatasetCreateParams{
		Name: "greetings", Type: cohere.DatasetEmbedInput, KeepFields: []string{"id"},
	}, input, "greetings.jsonl")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := client.WaitDataset(ctx, datasetID, 10*time.Millisecond); err != nil {
		log.Fatal(err)
	}

	// 2. Start the embed job and wait for it to complete.
	job, err := client.CreateEmbedJob(ctx, &cohere.CreateEmbedJobRequest{
		Model: "embed-english-v3.0", DatasetID: datasetID, InputType: cohere.InputSearchDocument,
		EmbeddingTypes: []cohere.EmbeddingType{cohere.EmbeddingFloat},
	})
	if err != nil {
		log.Fatal(err)
	}
	done, err := client.WaitEmbedJob(ctx, job.JobID, 10*time.Millisecond)
	if err != nil {
		log.Fatal(err)
	}

	// 3. Read the output dataset's parts row by row.
	out, err := client.GetDataset(ctx, done.OutputDatasetID)
	if err != nil {
		log.Fatal(err)
	}
	for _, part := range out.DatasetParts {
		err := client.ReadEmbedJobOutput(ctx, part.URL, func(row cohere.EmbedJobRow) error {
			fmt.Println(row.Fields["id"], row.Text, row.Embeddings.Float)
			return nil
		})
		if err != nil {
			log.Fatal(err)
		}
	}
	// Output:
	// a hello [0.5 -0.25]
	// b goodbye [0.125 1]
}

// newEmbedJobServer fakes the dataset and embed-job endpoints: the dataset
// validates on the second poll, the job completes on the second poll, and
// the output part is an Avro file on the same server.
func newEmbedJobServer() *httptest.Server {
	var datasetPolls, jobPolls atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/datasets", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"id":"greetings-x1"}`)
	})
	mux.HandleFunc("GET /v1/datasets/greetings-x1", func(w http.ResponseWriter, r *http.Request) {
		status := "processing"
		if datasetPolls.Add(1) > 1 {
			status = "validated"
		}
		fmt.Fprintf(w, `{"dataset":{"id":"greetings-x1","dataset_type":"embed-input","validation_status":%q}}`, status)
	})
	mux.HandleFunc("POST /v1/embed-jobs", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"job_id":"job-1"}`)
	})
	mux.HandleFunc("GET /v1/embed-jobs/job-1", func(w http.ResponseWriter, r *http.Request) {
		status := "processing"
		if jobPolls.Add(1) > 1 {
			status = "complete"
		}
		fmt.Fprintf(w, `{"job_id":"job-1","status":%q,"output_dataset_id":"embeded-greetings-x1"}`, status)
	})
	mux.HandleFunc("GET /v1/datasets/embeded-greetings-x1", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"dataset":{"id":"embeded-greetings-x1","dataset_type":"embed-result","validation_status":"validated",
			"dataset_parts":[{"id":"p0","name":"part-0.avro","url":"/parts/p0.avro","num_rows":2}]}}`)
	})
	mux.HandleFunc("GET /parts/p0.avro", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(embedJobOutputAvro())
	})
	return httptest.NewServer(mux)
}

func embedJobOutputAvro() []byte {
	const schema = `{"type":"record","name":"Row","fields":[
		{"name":"text","type":"string"},
		{"name":"embeddings","type":{"type":"record","name":"Embeddings","fields":[
			{"name":"float","type":["null",{"type":"array","items":"float"}]}]}},
		{"name":"id","type":"string"}]}`
	var buf bytes.Buffer
	enc, err := ocf.NewEncoder(schema, &buf)
	if err != nil {
		log.Fatal(err)
	}
	for _, row := range []map[string]any{
		{"text": "hello", "id": "a", "embeddings": map[string]any{"float": []float32{0.5, -0.25}}},
		{"text": "goodbye", "id": "b", "embeddings": map[string]any{"float": []float32{0.125, 1}}},
	} {
		if err := enc.Encode(row); err != nil {
			log.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		log.Fatal(err)
	}
	return buf.Bytes()
}
