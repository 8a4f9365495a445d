// Runs one SQL query with DuckDB over the Parquet parts under a directory
// that cobatch wrote, and prints the rows as JSON.
//
//   node query.mjs --dir ./out --sql "SELECT id, text FROM parts ORDER BY id"
//
// The query reads the view parts: every *.parquet file under --dir, at any
// depth, columns matched by name across files (read_parquet with
// union_by_name), plus filename, the part each row came from. Output: one
// JSON array of row objects (DuckDB's JSON form of each value: numbers
// beyond 2^53 and timestamps as strings, lists as arrays).
import { parseArgs } from "node:util";
import { DuckDBInstance } from "@duckdb/node-api";

const { values: opt } = parseArgs({
  options: {
    dir: { type: "string" },
    sql: { type: "string" },
  },
});
if (!opt.dir || !opt.sql) throw new Error("--dir and --sql are required");

const quote = (s) => "'" + s.replaceAll("'", "''") + "'";
const instance = await DuckDBInstance.create(":memory:");
const conn = await instance.connect();
try {
  await conn.run(
    `CREATE VIEW parts AS SELECT * FROM read_parquet(${quote(opt.dir + "/**/*.parquet")}, union_by_name = true, filename = true)`,
  );
  const reader = await conn.runAndReadAll(opt.sql);
  process.stdout.write(JSON.stringify(reader.getRowObjectsJson()) + "\n");
} finally {
  conn.closeSync();
  instance.closeSync();
}
