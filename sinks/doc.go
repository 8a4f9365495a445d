// Package sinks holds the result writers: sinks/pgvector and sinks/parquet.
package sinks
