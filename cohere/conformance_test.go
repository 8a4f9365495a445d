package cohere

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestConformanceResponses serves every response fixture and checks that
// the client decodes it to the values the fixture holds.
func TestConformanceResponses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		fixture string
		method  string
		path    string
		query   string
		call    func(c *Client) (any, error)
		check   func(t *testing.T, got any)
	}{
		{
			fixture: "v1_embed_response.json", method: "POST", path: "/v1/embed",
			call: func(c *Client) (any, error) {
				return c.EmbedV1(ctx, &EmbedRequest{Texts: []string{"hello", "goodbye"}, Model: "embed-v4.0", InputType: InputClassification})
			},
			check: func(t *testing.T, got any) {
				r := got.(*EmbedResponse)
				checkFloats(t, r.Embeddings.Float, 2, 1024, 0.016296387, 0.0052719116)
				if r.Embeddings.Float[0][147] != float32(-7.402897e-5) || r.Embeddings.Float[0][1023] != 0.009765625 || r.Embeddings.Float[1][0] != 0.04663086 {
					t.Errorf("floats [0][147]=%v [0][1023]=%v [1][0]=%v", r.Embeddings.Float[0][147], r.Embeddings.Float[0][1023], r.Embeddings.Float[1][0])
				}
				want := EmbedResponse{ID: "1c62213a-1f15-46f1-ac62-36f6bbaf3972", ResponseType: ResponseEmbeddingsFloats, Texts: []string{"hello", "goodbye"},
					Meta: Meta{APIVersion: APIVersion{Version: "1"}, BilledUnits: BilledUnits{InputTokens: 2}}}
				r.Embeddings = Embeddings{}
				if !reflect.DeepEqual(*r, want) {
					t.Errorf("got %+v\nwant %+v", *r, want)
				}
			},
		},
		{
			fixture: "v1_embed_images_response.json", method: "POST", path: "/v1/embed",
			call: func(c *Client) (any, error) {
				return c.EmbedV1(ctx, &EmbedRequest{Images: []string{"data:image/jpeg;base64,AA=="}, Model: "embed-v4.0", InputType: InputImage, EmbeddingTypes: []EmbeddingType{EmbeddingFloat}})
			},
			check: func(t *testing.T, got any) {
				r := got.(*EmbedResponse)
				checkFloats(t, r.Embeddings.Float, 1, 1024, -0.007247925, -0.00340271)
				if r.ResponseType != ResponseEmbeddingsByType || len(r.Texts) != 0 || r.Meta.BilledUnits.Images != 1 || r.Meta.APIVersion.Version != "2" {
					t.Errorf("got %+v", r)
				}
				if want := []EmbedImage{{Width: 400, Height: 400, Format: "jpeg", BitDepth: 24}}; !reflect.DeepEqual(r.Images, want) {
					t.Errorf("images = %+v", r.Images)
				}
			},
		},
		{
			fixture: "v2_embed_response.json", method: "POST", path: "/v2/embed",
			call: func(c *Client) (any, error) {
				return c.Embed(ctx, &EmbedRequest{Texts: []string{"hello", "goodbye"}, Model: "embed-v4.0", InputType: InputClassification, EmbeddingTypes: []EmbeddingType{EmbeddingFloat}})
			},
			check: func(t *testing.T, got any) {
				r := got.(*EmbedResponse)
				checkFloats(t, r.Embeddings.Float, 2, 1024, 0.016296387, 0.0052719116)
				if r.Embeddings.Float[0][147] != float32(-7.402897e-5) {
					t.Errorf("[0][147] = %v", r.Embeddings.Float[0][147])
				}
				if r.ResponseType != "" || r.ID != "da6e531f-54c6-4a73-bf92-f60566d8d753" || !r.Meta.APIVersion.IsExperimental ||
					len(r.Meta.Warnings) != 1 || !strings.HasPrefix(r.Meta.Warnings[0], "You are using an experimental version") || r.Meta.BilledUnits.InputTokens != 2 {
					t.Errorf("got %+v", r)
				}
				if r.Embeddings.Int8 != nil || r.Embeddings.Base64 != nil || r.Embeddings.Len() != 2 {
					t.Errorf("unexpected types: %+v", r.Embeddings.Len())
				}
			},
		},
		{
			fixture: "v2_embed_images_response.json", method: "POST", path: "/v2/embed",
			call: func(c *Client) (any, error) {
				return c.Embed(ctx, &EmbedRequest{Images: []string{"data:image/jpeg;base64,AA=="}, Model: "embed-v4.0", InputType: InputImage})
			},
			check: func(t *testing.T, got any) {
				r := got.(*EmbedResponse)
				checkFloats(t, r.Embeddings.Float, 1, 1024, -0.007247925, -0.00340271)
				if r.ResponseType != "" || r.Meta.BilledUnits.Images != 1 || len(r.Images) != 1 || r.Images[0].BitDepth != 24 {
					t.Errorf("got %+v", r)
				}
			},
		},
		{
			fixture: "embed_by_type_response_schema_example.json", method: "POST", path: "/v2/embed",
			call: func(c *Client) (any, error) {
				return c.Embed(ctx, &EmbedRequest{Texts: []string{"hello world"}, Model: "embed-english-v3.0", InputType: InputSearchQuery})
			},
			check: func(t *testing.T, got any) {
				r := got.(*EmbedResponse)
				checkFloats(t, r.Embeddings.Float, 1, 1024, -0.039520264, 0.021408081)
				ub := r.Embeddings.Ubinary
				if len(ub) != 1 || len(ub[0]) != 128 || ub[0][0] != 1 || ub[0][1] != 218 || ub[0][2] != 231 || ub[0][127] != 205 {
					t.Errorf("ubinary = %v", ub)
				}
				if r.Texts[0] != "hello world" || r.Meta.APIVersion.Version != "1" {
					t.Errorf("got %+v", r)
				}
			},
		},
		{
			fixture: "v1_embed_floats_response_schema_example.json", method: "POST", path: "/v1/embed",
			call: func(c *Client) (any, error) {
				return c.EmbedV1(ctx, &EmbedRequest{Texts: []string{"hello world"}, Model: "embed-english-v3.0", InputType: InputSearchQuery})
			},
			check: func(t *testing.T, got any) {
				r := got.(*EmbedResponse)
				checkFloats(t, r.Embeddings.Float, 1, 1024, -0.039520264, 0.021408081)
				if r.ID != "bc57846a-3e56-4327-8acc-588ca1a37b8a" || r.ResponseType != "" {
					t.Errorf("got %+v", r)
				}
			},
		},
		{
			fixture: "v1_rerank_response.json", method: "POST", path: "/v1/rerank",
			call: func(c *Client) (any, error) {
				return c.RerankV1(ctx, &RerankV1Request{Query: "q", Documents: []any{"a"}, TopN: 3, Model: "rerank-v4.0-pro"})
			},
			check: func(t *testing.T, got any) {
				checkRerank(t, got.(*RerankResponse), "8bc745a3-7871-4597-822e-18c95d5df48c", "1")
			},
		},
		{
			fixture: "v2_rerank_response.json", method: "POST", path: "/v2/rerank",
			call: func(c *Client) (any, error) {
				return c.Rerank(ctx, &RerankRequest{Query: "q", Documents: []string{"a"}, TopN: 3, Model: "rerank-v4.0-pro"})
			},
			check: func(t *testing.T, got any) {
				checkRerank(t, got.(*RerankResponse), "07734bd2-2473-4f07-94e1-0d9f0e6843cf", "2")
			},
		},
		{
			fixture: "classify_response.json", method: "POST", path: "/v1/classify",
			call: func(c *Client) (any, error) {
				return c.Classify(ctx, &ClassifyRequest{Inputs: []string{"a", "b"}, Model: "m"})
			},
			check: func(t *testing.T, got any) {
				r := got.(*ClassifyResponse)
				if len(r.Classifications) != 2 || r.Meta.BilledUnits.Classifications != 2 {
					t.Fatalf("got %+v", r)
				}
				first, last := r.Classifications[0], r.Classifications[1]
				if first.Prediction != "Not spam" || first.Confidence != 0.5661598 || first.Labels["Spam"].Confidence != 0.43384025 ||
					first.ClassificationType != "single-label" || first.Input != "Confirm your email address" || first.Confidences[0] != 0.5661598 {
					t.Errorf("first = %+v", first)
				}
				if last.Prediction != "Spam" || last.Predictions[0] != "Spam" || last.Labels["Not spam"].Confidence != 0.009018883 || last.ID != "e1a39b3e-1ecd-41d2-be75-90ed726f7b9e" {
					t.Errorf("last = %+v", last)
				}
			},
		},
		{
			fixture: "tokenize_response.json", method: "POST", path: "/v1/tokenize",
			call: func(c *Client) (any, error) {
				return c.Tokenize(ctx, &TokenizeRequest{Text: "tokenize me! :D", Model: "command"})
			},
			check: func(t *testing.T, got any) {
				r := got.(*TokenizeResponse)
				if !reflect.DeepEqual(r.Tokens, []int{10002, 2261, 2012, 8, 2792, 43}) || len(r.TokenStrings) != 6 || r.TokenStrings[5] != "D" || r.Meta.APIVersion.Version != "1" {
					t.Errorf("got %+v", r)
				}
			},
		},
		{
			fixture: "tokenize_response_alt_schema_example.json", method: "POST", path: "/v1/tokenize",
			call: func(c *Client) (any, error) {
				return c.Tokenize(ctx, &TokenizeRequest{Text: "tokenize me! :D", Model: "command"})
			},
			check: func(t *testing.T, got any) {
				r := got.(*TokenizeResponse)
				if r.Tokens[0] != 34160 || r.Tokens[5] != 69 || r.TokenStrings[1] != "ize'" {
					t.Errorf("got %+v", r)
				}
			},
		},
		{
			fixture: "detokenize_response.json", method: "POST", path: "/v1/detokenize",
			call: func(c *Client) (any, error) {
				return c.Detokenize(ctx, &DetokenizeRequest{Tokens: []int{1}, Model: "command"})
			},
			check: func(t *testing.T, got any) {
				if r := got.(*DetokenizeResponse); r.Text != "tokenize me! :D" || r.Meta.APIVersion.Version != "1" {
					t.Errorf("got %+v", r)
				}
			},
		},
		{
			fixture: "batches_get_response.json", method: "GET", path: "/v2/batches/9439e0e3",
			call: func(c *Client) (any, error) { return c.GetBatch(ctx, "9439e0e3") },
			check: func(t *testing.T, got any) {
				b := got.(*Batch)
				want := time.Date(2025, 3, 5, 14, 59, 25, 438936000, time.UTC)
				if !b.CreatedAt.Equal(want) || b.UpdatedAt.Nanosecond() != 126572000 || b.InputTokens != 0 || b.OutputTokens != 0 ||
					b.NumRecords != 5000 || b.NumSuccessfulRecords != 8 || b.NumFailedRecords != 0 || b.Status != BatchStatusInProgress ||
					b.Model != "batch-command" || b.OutputDatasetID != "my-batch-output-c2waz1" || b.OrgID != "62603116-1750-4c04-b1b6-9d5046764bc4" {
					t.Errorf("got %+v", b)
				}
			},
		},
		{
			fixture: "batches_list_response.json", method: "GET", path: "/v2/batches", query: "order_by=created_at&page_size=10&page_token=tok",
			call: func(c *Client) (any, error) {
				return c.ListBatches(ctx, ListBatchesParams{PageSize: 10, PageToken: "tok", OrderBy: "created_at"})
			},
			check: func(t *testing.T, got any) {
				r := got.(*ListBatchesResponse)
				if len(r.Batches) != 1 || r.NextPageToken != "" || r.Batches[0].Model != "command" || r.Batches[0].NumRecords != 5000 || !r.Batches[0].CreatedAt.IsZero() {
					t.Errorf("got %+v", r)
				}
			},
		},
		{
			fixture: "synthetic_fern_wiremock/batches_create_response.json", method: "POST", path: "/v2/batches",
			call: func(c *Client) (any, error) {
				return c.CreateBatch(ctx, &CreateBatchRequest{Name: "n", InputDatasetID: "d", Model: "m"})
			},
			check: func(t *testing.T, got any) {
				b := got.(*Batch)
				// "input_tokens": "input_tokens" is a schema placeholder, not a number.
				if b.ID != "id" || b.InputTokens != 0 || b.NumRecords != 1 || b.NumFailedRecords != 1 || b.StatusReason != "status_reason" ||
					b.Status != BatchStatusUnspecified || b.CreatedAt.Year() != 2024 {
					t.Errorf("got %+v", b)
				}
			},
		},
		{
			fixture: "synthetic_fern_wiremock/batches_cancel_response.json", method: "POST", path: "/v2/batches/b%2F1:cancel",
			call: func(c *Client) (any, error) { return nil, c.CancelBatch(ctx, "b/1") },
		},
		{
			fixture: "synthetic_fern_wiremock/check_api_key_response.json", method: "POST", path: "/v1/check-api-key",
			call: func(c *Client) (any, error) { return c.CheckAPIKey(ctx) },
			check: func(t *testing.T, got any) {
				if r := got.(*CheckAPIKeyResponse); !r.Valid || r.OrganizationID != "organization_id" || r.OwnerID != "owner_id" {
					t.Errorf("got %+v", r)
				}
			},
		},
		{
			fixture: "synthetic_fern_wiremock/datasets_create_response.json", method: "POST", path: "/v1/datasets", query: "name=n&type=embed-input",
			call: func(c *Client) (any, error) {
				return c.CreateDataset(ctx, DatasetCreateParams{Name: "n", Type: DatasetEmbedInput}, strings.NewReader(`{"text":"a"}`+"\n"), "a.jsonl")
			},
			check: func(t *testing.T, got any) {
				if got.(string) != "id" {
					t.Errorf("id = %v", got)
				}
			},
		},
		{
			fixture: "synthetic_fern_wiremock/datasets_delete_response.json", method: "DELETE", path: "/v1/datasets/ds-1",
			call: func(c *Client) (any, error) { return nil, c.DeleteDataset(ctx, "ds-1") },
		},
		{
			fixture: "synthetic_fern_wiremock/datasets_get_response.json", method: "GET", path: "/v1/datasets/ds-1",
			call: func(c *Client) (any, error) { return c.GetDataset(ctx, "ds-1") },
			check: func(t *testing.T, got any) {
				d := got.(*Dataset)
				if d.ID != "id" || d.DatasetType != DatasetEmbedInput || d.ValidationStatus != DatasetUnknown || len(d.DatasetParts) != 1 ||
					d.DatasetParts[0].Name != "name" || d.ParseInfo == nil || d.ParseInfo.Delimiter != "delimiter" ||
					d.RequiredFields[0] != "required_fields" || d.ValidationWarnings[0] != "validation_warnings" || d.UpdatedAt.Hour() != 9 {
					t.Errorf("got %+v", d)
				}
			},
		},
		{
			fixture: "synthetic_fern_wiremock/datasets_list_response.json", method: "GET", path: "/v1/datasets",
			query: "datasetType=embed-input&limit=5&offset=10&validationStatus=validated",
			call: func(c *Client) (any, error) {
				return c.ListDatasets(ctx, ListDatasetsParams{DatasetType: DatasetEmbedInput, Limit: 5, Offset: 10, ValidationStatus: DatasetValidated})
			},
			check: func(t *testing.T, got any) {
				ds := got.([]Dataset)
				if len(ds) != 1 || ds[0].Schema != "schema" || ds[0].PreserveFields[0] != "preserve_fields" || ds[0].ParseInfo != nil {
					t.Errorf("got %+v", ds)
				}
			},
		},
		{
			fixture: "synthetic_fern_wiremock/datasets_usage_response.json", method: "GET", path: "/v1/datasets/usage",
			call: func(c *Client) (any, error) { return c.DatasetUsage(ctx) },
			check: func(t *testing.T, got any) {
				if got.(int64) != 1000000 {
					t.Errorf("usage = %v", got)
				}
			},
		},
		{
			fixture: "synthetic_fern_wiremock/embed_jobs_cancel_response.json", method: "POST", path: "/v1/embed-jobs/job-1/cancel",
			call: func(c *Client) (any, error) { return nil, c.CancelEmbedJob(ctx, "job-1") },
		},
		{
			fixture: "synthetic_fern_wiremock/embed_jobs_create_response.json", method: "POST", path: "/v1/embed-jobs",
			call: func(c *Client) (any, error) {
				return c.CreateEmbedJob(ctx, &CreateEmbedJobRequest{Model: "embed-english-v3.0", DatasetID: "d", InputType: InputSearchDocument})
			},
			check: func(t *testing.T, got any) {
				r := got.(*CreateEmbedJobResponse)
				if r.JobID != "job_id" || r.Meta.BilledUnits.Images != 1.1 || r.Meta.Tokens.InputTokens != 1.1 || r.Meta.CachedTokens != 1.1 || !r.Meta.APIVersion.IsDeprecated {
					t.Errorf("got %+v", r)
				}
			},
		},
		{
			fixture: "synthetic_fern_wiremock/embed_jobs_get_response.json", method: "GET", path: "/v1/embed-jobs/job-1",
			call: func(c *Client) (any, error) { return c.GetEmbedJob(ctx, "job-1") },
			check: func(t *testing.T, got any) {
				j := got.(*EmbedJob)
				if j.JobID != "job_id" || j.Status != EmbedJobProcessing || j.Truncate != "START" || j.OutputDatasetID != "output_dataset_id" ||
					!j.CreatedAt.Equal(time.Date(2024, 1, 15, 9, 30, 0, 0, time.UTC)) || j.Meta.Warnings[0] != "warnings" {
					t.Errorf("got %+v", j)
				}
			},
		},
		{
			fixture: "synthetic_fern_wiremock/embed_jobs_list_response.json", method: "GET", path: "/v1/embed-jobs",
			call: func(c *Client) (any, error) { return c.ListEmbedJobs(ctx) },
			check: func(t *testing.T, got any) {
				js := got.([]EmbedJob)
				if len(js) != 1 || js[0].Model != "model" || js[0].InputDatasetID != "input_dataset_id" {
					t.Errorf("got %+v", js)
				}
			},
		},
		{
			fixture: "synthetic_fern_wiremock/models_get_response.json", method: "GET", path: "/v1/models/embed-v4.0",
			call: func(c *Client) (any, error) { return c.GetModel(ctx, "embed-v4.0") },
			check: func(t *testing.T, got any) {
				m := got.(*Model)
				if m.Name != "name" || !m.IsDeprecated || !m.Finetuned || m.ContextLength != 1.1 || m.Endpoints[0] != "chat" || m.Features[0] != "features" {
					t.Errorf("got %+v", m)
				}
			},
		},
		{
			fixture: "synthetic_fern_wiremock/models_list_response.json", method: "GET", path: "/v1/models",
			query: "default_only=true&endpoint=embed&page_size=5&page_token=p",
			call: func(c *Client) (any, error) {
				return c.ListModels(ctx, ListModelsParams{PageSize: 5, PageToken: "p", Endpoint: "embed", DefaultOnly: true})
			},
			check: func(t *testing.T, got any) {
				r := got.(*ListModelsResponse)
				if len(r.Models) != 1 || r.NextPageToken != "next_page_token" || r.Models[0].TokenizerURL != "tokenizer_url" {
					t.Errorf("got %+v", r)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.fixture, ".json"), func(t *testing.T) {
			t.Parallel()
			body := fixture(t, tt.fixture)
			b := setup(t, serveJSON(200, string(body)))
			got, err := tt.call(b.client)
			if err != nil {
				t.Fatal(err)
			}
			reqs := b.requests()
			if len(reqs) != 1 {
				t.Fatalf("requests = %d, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != tt.method || r.Path != testPrefix+strings.ReplaceAll(tt.path, "%2F", "/") || r.Query != tt.query {
				t.Errorf("sent %s %s ?%s, want %s %s ?%s", r.Method, r.Path, r.Query, tt.method, testPrefix+tt.path, tt.query)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer "+testKey {
				t.Errorf("Authorization = %q", got)
			}
			if got := r.Header.Get("X-Client-Name"); got != "cobatch" {
				t.Errorf("X-Client-Name = %q", got)
			}
			if tt.check != nil {
				tt.check(t, got)
			}
		})
	}
}

func checkFloats(t *testing.T, rows [][]float32, n, dims int, first, last float32) {
	t.Helper()
	if len(rows) != n {
		t.Fatalf("rows = %d, want %d", len(rows), n)
	}
	for i, r := range rows {
		if len(r) != dims {
			t.Fatalf("row %d has %d dims, want %d", i, len(r), dims)
		}
	}
	if rows[0][0] != first || rows[n-1][dims-1] != last {
		t.Errorf("first = %v, last = %v; want %v, %v", rows[0][0], rows[n-1][dims-1], first, last)
	}
}

func checkRerank(t *testing.T, r *RerankResponse, id, version string) {
	t.Helper()
	want := &RerankResponse{ID: id, Results: []RerankResult{{Index: 3, RelevanceScore: 0.999071}, {Index: 4, RelevanceScore: 0.7867867}, {Index: 0, RelevanceScore: 0.32713068}},
		Meta: Meta{APIVersion: APIVersion{Version: version}, BilledUnits: BilledUnits{SearchUnits: 1}}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
}
