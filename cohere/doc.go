// Package cohere is a client for the Cohere API: embed, chat, rerank, classify,
// tokenize, models, datasets, embed jobs and batches, with retries limited to
// what is safe to retry.
//
//	client, err := cohere.New(cohere.Config{APIKey: os.Getenv("COHERE_API_KEY")})
//	if err != nil {
//		return err
//	}
//	resp, err := client.Embed(ctx, &cohere.EmbedRequest{
//		Model:          "embed-v4.0",
//		InputType:      cohere.InputSearchDocument,
//		Texts:          texts, // at most cohere.MaxEmbedInputs
//		EmbeddingTypes: []cohere.EmbeddingType{cohere.EmbeddingFloat},
//	})
//	switch {
//	case cohere.IsFatal(err): // 401, 402, 498, monthly cap: stop the job
//	case cohere.IsRateLimited(err): // 429: back off (the caller's limiter)
//	case cohere.IsRetryable(err): // 5xx, network: try again later
//	case err != nil: // 400/422: the input itself is bad
//	}
//	vectors := resp.Embeddings.Float // [][]float32, one per text
//
// Retries: the client retries network errors, attempt timeouts, 500/503/504
// and 429s (not the monthly cap) up to Config.Retry.MaxAttempts, with
// exponential backoff and full jitter, honouring a capped Retry-After. Every
// wait ends with the context. The error after the last attempt wraps the
// last *APIError, so errors.As finds it. Create calls (datasets, embed jobs,
// batches) are the exception: they are retried only after a 429 or a
// connection never made, since after a lost answer the object may exist;
// [Client.FindDataset], [Client.FindEmbedJob] and [Client.FindBatch] look
// it up by name.
//
// Asynchronous work: [Client.CreateDataset] streams an upload of any size,
// [Client.CreateEmbedJob] and [Client.CreateBatch] start jobs,
// [Client.WaitDataset] and [Client.WaitEmbedJob] poll them, and
// [Client.ReadEmbedJobOutput], [Client.ReadBatchOutput] and
// [Client.ReadDatasetPart] stream the Avro output parts row by row. Bulk
// chat: [BatchChatWriter] writes batch-chat-v2-input lines and
// [Client.ReadBatchChatOutput] reads the answers by custom_id.
//
// The API key goes only to BaseURL's host and never appears in errors,
// logs or printouts of Config.
package cohere
