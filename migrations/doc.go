// Package migrations embeds the SQL migrations that the pgvector sink applies
// at start-up.
package migrations
