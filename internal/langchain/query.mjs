// Prints the k passages nearest a query vector, as LangChain's JavaScript
// PGVectorStore finds them in a table that cobatch wrote.
//
//   DATABASE_URL=postgres://... node query.mjs --schema public --table docs \
//     [--id-column id] [--vector-column embedding] [--content-column text] \
//     [--metadata-column metadata] [--distance cosine] [--k 4] < query-vector.json
//
// The query vector is a JSON array of numbers on standard input. Output: one
// JSON array of {id, content, metadata, score}, nearest first (score is the
// distance, smaller is nearer).
import { parseArgs } from "node:util";
import { readFileSync } from "node:fs";
import pg from "pg";
import { PGVectorStore } from "@langchain/community/vectorstores/pgvector";
import { Embeddings } from "@langchain/core/embeddings";

const { values: opt } = parseArgs({
  options: {
    schema: { type: "string" },
    table: { type: "string" },
    "id-column": { type: "string", default: "id" },
    "vector-column": { type: "string", default: "embedding" },
    "content-column": { type: "string", default: "text" },
    "metadata-column": { type: "string", default: "metadata" },
    distance: { type: "string", default: "cosine" },
    k: { type: "string", default: "4" },
  },
});
if (!opt.table) throw new Error("--table is required");
if (!process.env.DATABASE_URL) throw new Error("DATABASE_URL is required");

const vector = JSON.parse(readFileSync(0, "utf8"));
if (!Array.isArray(vector) || vector.some((x) => typeof x !== "number")) {
  throw new Error("standard input must be a JSON array of numbers");
}

// The vectors are already in the table and the query vector is given, so
// nothing here embeds text: this stands in for the user's embeddings model.
class GivenVectors extends Embeddings {
  async embedDocuments() { throw new Error("the harness does not embed documents"); }
  async embedQuery() { throw new Error("the harness does not embed queries"); }
}

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
try {
  const store = new PGVectorStore(new GivenVectors({}), {
    pool,
    schemaName: opt.schema ?? null,
    tableName: opt.table,
    // The table is cobatch's: leave it as it is (no CREATE EXTENSION or TABLE).
    skipInitializationCheck: true,
    distanceStrategy: opt.distance,
    columns: {
      idColumnName: opt["id-column"],
      vectorColumnName: opt["vector-column"],
      contentColumnName: opt["content-column"],
      metadataColumnName: opt["metadata-column"],
    },
  });
  const hits = await store.similaritySearchVectorWithScore(vector, Number(opt.k));
  const out = hits.map(([doc, score]) => ({ id: doc.id, content: doc.pageContent, metadata: doc.metadata, score }));
  process.stdout.write(JSON.stringify(out) + "\n");
} finally {
  await pool.end();
}
