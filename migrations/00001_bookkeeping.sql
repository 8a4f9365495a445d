-- +goose Up
CREATE EXTENSION IF NOT EXISTS vector;

-- One row per job, written when the job ends.
CREATE TABLE IF NOT EXISTS cobatch_jobs (
    job         text PRIMARY KEY,
    target      text NOT NULL DEFAULT '',
    model       text NOT NULL DEFAULT '',
    fingerprint text NOT NULL DEFAULT '',
    written     bigint NOT NULL DEFAULT 0,
    skipped     bigint NOT NULL DEFAULT 0,
    failed      bigint NOT NULL DEFAULT 0,
    total       bigint NOT NULL DEFAULT 0,
    chunks      integer NOT NULL DEFAULT 0,
    tokens_in   bigint NOT NULL DEFAULT 0,
    started_at  timestamptz,
    finished_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per completed chunk, written in the same transaction as its rows:
-- its presence is the proof that the chunk is stored.
CREATE TABLE IF NOT EXISTS cobatch_chunks (
    job        text NOT NULL,
    chunk      integer NOT NULL,
    written    integer NOT NULL,
    skipped    integer NOT NULL,
    failed     integer NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job, chunk)
);

-- Dead-lettered records. The key makes a re-delivered chunk rewrite nothing.
CREATE TABLE IF NOT EXISTS cobatch_failures (
    job       text NOT NULL,
    chunk     integer NOT NULL,
    file      text NOT NULL,
    line      bigint NOT NULL,
    id        text NOT NULL DEFAULT '',
    reason    text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job, chunk, file, line, id)
);

-- +goose Down
DROP TABLE IF EXISTS cobatch_failures;
DROP TABLE IF EXISTS cobatch_chunks;
DROP TABLE IF EXISTS cobatch_jobs;
