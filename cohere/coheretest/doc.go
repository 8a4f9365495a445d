// Package coheretest provides an in-process fake of the Cohere API for tests,
// in the style of net/http/httptest: deterministic embeddings, lexical rerank,
// nearest-example classify, v2 chat, datasets, embed jobs and batches with
// Avro output parts, strict validation and injectable faults.
//
//	srv := coheretest.NewServer(
//		coheretest.WithRateLimit("embed", 2000, time.Minute), // inputs per window
//		coheretest.WithErrorRate(503, 0.05),
//		coheretest.WithPoison("bad text"),
//	)
//	defer srv.Close()
//	// point a client at srv.URL with coheretest.DefaultAPIKey, then:
//	want := coheretest.Embedding("embed-v4.0", "search_document", "hello", coheretest.Dims("embed-v4.0", 0))
//	_ = srv.Stats().RateLimited   // 429s served
//	_ = srv.EmbedCount("hello")   // 1 when no text was paid for twice
//	srv.Set(coheretest.WithoutFaults()) // change faults at run time
//
// Chat replies are deterministic: ChatText for text, ChatJSON for
// json_object (with a json_schema, an object that validates against it; a
// string enum takes the value the last user message names, else that of the
// nearest few-shot example, else one picked by hash). A reply
// longer than max_tokens is cut there with finish_reason MAX_TOKENS, and
// WithBadReplies / WithBadReplyRate make structured replies break their
// schema, as a bulk job must expect. Chat counts requests in the "chat"
// rate-limit group and bills input and output tokens in Stats.
//
// Batches run embed lines (batch-embed-v2-input, an embed model) and chat
// lines (batch-chat-v2-input, a chat model): each chat line's body is
// checked and answered exactly as /v2/chat would, and written as
// {custom_id, body} or {custom_id, error} (chat_batches.go). Their faults:
// WithBatchDuplicates repeats output rows, WithBatchLostLines leaves lines
// out, WithPoison fails lines. WithLostCreates / WithLostCreateRate serve a
// create call (dataset, embed job, batch) and lose its answer, so a client
// must find the object by name; Stats.Created and Stats.LostCreates count
// them.
//
// Choices where the API leaves room: token counts are Tokens(text) (pieces of
// at most 4 bytes); "binary" is "ubinary" minus 128; "base64" is the base64 of
// little-endian float32 bytes; a dataset is "processing" until validated;
// dataset parts are served without auth under /_sim/parts/, and /_sim/stats
// returns Stats as JSON.
package coheretest
