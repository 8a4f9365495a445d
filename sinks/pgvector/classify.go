package pgvector

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cobatch/cobatch/sinks"
)

// classifyTable holds one verdict per record id. content_sha256 and
// fingerprint let Lookup skip unchanged records, as for embeddings.
var classifyTable = resultTable{
	cols: []column{
		{name: "id", typ: "text"},
		{name: "label", typ: "text"},
		{name: "confidence", typ: "real"},
		{name: "labels", typ: "jsonb"},
		{name: "model", typ: "text"},
		{name: "fingerprint", typ: "text"},
		{name: "content_sha256", typ: "bytea"},
		{name: "metadata", typ: "jsonb"},
		{name: "classified_at", typ: "timestamp with time zone"},
		{name: "route", typ: "text", added: true},
		{name: "labels_predicted", typ: "text[]", added: true},
	},
	key: []string{"id"},
}

// upsertClassifications writes rows keyed by id, rewriting only rows whose
// verdict, model or content changed. It returns the number of records.
func (w *Writer) upsertClassifications(ctx context.Context, tx pgx.Tx, in []sinks.Classification) (int, error) {
	rows, err := lastByID(in, func(r sinks.Classification) string { return r.ID }, "classification")
	if err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, nil
	}
	n := len(rows)
	ids, labels, confs, all := make([]string, n), make([]string, n), make([]*float32, n), make([]string, n)
	models, fps, shas, metas, ats := make([]string, n), make([]string, n), make([][]byte, n), make([]*string, n), make([]time.Time, n)
	routes, multi := classifyRoutes(rows)
	now := time.Now()
	for i, r := range rows {
		b, err := json.Marshal(r.Labels)
		if err != nil {
			return 0, fmt.Errorf("record %q: labels: %w", r.ID, err)
		}
		ids[i], labels[i], confs[i], all[i] = r.ID, r.Label, r.Confidence, string(b)
		models[i], fps[i], shas[i] = r.Model, r.Fingerprint, r.ContentSHA256[:]
		if len(r.Metadata) > 0 && string(r.Metadata) != "null" {
			m := string(r.Metadata)
			metas[i] = &m
		}
		ats[i] = r.ClassifiedAt
		if ats[i].IsZero() {
			ats[i] = now
		}
	}
	_, err = tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s AS t (id, label, confidence, labels, model, fingerprint, content_sha256, metadata, classified_at, route, labels_predicted)
		SELECT u.id, u.label, u.confidence, u.labels::jsonb, u.model, u.fingerprint, u.sha, u.metadata::jsonb, u.at, u.route,
			CASE WHEN u.multi IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(u.multi::jsonb)) END
		FROM unnest($1::text[], $2::text[], $3::real[], $4::text[], $5::text[], $6::text[], $7::bytea[], $8::text[], $9::timestamptz[], $10::text[], $11::text[])
			AS u(id, label, confidence, labels, model, fingerprint, sha, metadata, at, route, multi)
		ON CONFLICT (id) DO UPDATE SET label = EXCLUDED.label, confidence = EXCLUDED.confidence, labels = EXCLUDED.labels,
			model = EXCLUDED.model, fingerprint = EXCLUDED.fingerprint, content_sha256 = EXCLUDED.content_sha256,
			metadata = EXCLUDED.metadata, classified_at = EXCLUDED.classified_at,
			route = EXCLUDED.route, labels_predicted = EXCLUDED.labels_predicted
		WHERE (t.label, t.confidence, t.labels, t.model, t.fingerprint, t.content_sha256, t.metadata, t.route, t.labels_predicted)
			IS DISTINCT FROM (EXCLUDED.label, EXCLUDED.confidence, EXCLUDED.labels, EXCLUDED.model,
				EXCLUDED.fingerprint, EXCLUDED.content_sha256, EXCLUDED.metadata, EXCLUDED.route, EXCLUDED.labels_predicted)`, w.table.Sanitize()),
		ids, labels, confs, all, models, fps, shas, metas, ats, routes, multi)
	if err != nil {
		return 0, fmt.Errorf("upsert: %w", err)
	}
	return n, nil
}
