// Package langchain checks that LangChain's JavaScript PGVectorStore
// (@langchain/community with pg, versions pinned by package-lock.json in
// this directory) reads the nearest passages from a table shaped as cobatch
// writes it. query.mjs is the client; the test installs it with
// scripts/npm-ci.sh and runs it with node.
//
//	scripts/npm-ci.sh internal/langchain
//	DATABASE_URL=postgres://... node internal/langchain/query.mjs \
//	  --schema public --table docs --content-column text --k 4 < vector.json
package langchain
