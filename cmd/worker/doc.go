// Command worker processes a job's chunk tasks from Redis: it calls the Cohere
// API within the shared rate limit and writes results to the job's sink.
// Run any number of workers, on any machines, against the same Redis.
//
//	REDIS_URL=redis://127.0.0.1:6379/0 COHERE_API_KEY=... DATABASE_URL=postgres://... worker -concurrency 16
package main
