package main

import (
	"maps"

	"github.com/cobatch/cobatch/internal/cli"
)

// runSections places enqueue's own flags in -h; the job's flags are in
// cli.JobFlagSections.
var runSections = map[string]string{
	"f": cli.SecControl, "wait": cli.SecControl, "redis": cli.SecControl, "queue": cli.SecControl,
	"sim": cli.SecOperation, "api-timeout": cli.SecRate, "concurrency": cli.SecRate, "rate-limit": cli.SecRate,
	"query": cli.SecOutput, "log-format": cli.SecOutput, "v": cli.SecOutput, "http": cli.SecOutput,
}

// oldFlags are the flags the subcommands replaced: they still work, print
// the subcommand to use, and are not listed.
var oldFlags = map[string]string{"status": "status", "dead-letters": "dead-letters -json", "cancel": "cancel"}

func enqueueHelp() cli.Help {
	sections := maps.Clone(cli.JobFlagSections)
	maps.Copy(sections, runSections)
	return cli.Help{
		Command:  "enqueue",
		Sections: []string{cli.SecInput, cli.SecOperation, cli.SecSink, cli.SecRate, cli.SecControl, cli.SecOutput},
		Section:  sections,
		Hidden:   []string{"status", "dead-letters", "cancel", "version"},
		Intro: `Usage: enqueue [flags] FILE...      plan and run a job; flags may come anywhere
       enqueue status|list|cancel|retry-failed|dead-letters [JOB] [flags]
                                    control a job (enqueue status -h)
       enqueue version

Plans a job: splits the input files into chunk tasks on Redis for workers to
embed through the Cohere API, and with -wait follows it to the end. Without
Redis (no -redis, no REDIS_URL) it runs embedded: an in-process queue and
-concurrency in-process workers run the whole job, then exit.

Every record ends written, skipped (the sink already holds it unchanged) or
failed (dead-lettered with file, line and reason). Running the same command
again resumes the job; after a job finished, it re-embeds only what changed.
`,
		Outro: `
Exit codes:
  0  every record written or skipped
  1  usage or configuration error before anything ran (bad flag, missing input)
  2  the job finished with failed records (enqueue dead-letters JOB)
  3  aborted: auth, quota, billing, unknown model, sink unreachable, -max-cost,
     cancelled

Environment:
  COHERE_API_KEY    Cohere API key (or CO_API_KEY, or COHERE_API_KEY_FILE
                    naming a file holding it)
  COHERE_BASE_URL   API base URL, or CO_API_URL (default https://api.cohere.com)
  REDIS_URL         Redis holding the queue; unset: embedded mode
  DATABASE_URL      PostgreSQL for -sink postgres
`,
	}
}
