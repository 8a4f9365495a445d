package main

import "github.com/cobatch/cobatch/internal/cli"

const (
	secQueue    = "Queue"
	secAPI      = "Rate and API"
	secSchedule = "Scheduling"
	secHTTP     = "HTTP listener"
)

var workerHelp = cli.Help{
	Command:  "worker",
	Sections: []string{secQueue, secAPI, secSchedule, secHTTP, cli.SecOutput},
	Section: map[string]string{
		"redis": secQueue, "queue": secQueue, "concurrency": secQueue, "shutdown-timeout": secQueue,
		"rate-limit": secAPI, "api-timeout": secAPI,
		"schedule": secSchedule,
		"http":     secHTTP, "ui": secHTTP, "ui-write": secHTTP, "metrics-grace": secHTTP,
		"log-format": cli.SecOutput, "v": cli.SecOutput, "cpu-profile": cli.SecOutput, "version": cli.SecOutput,
	},
	Intro: `Usage: worker [flags]

Processes chunk tasks that enqueue put on Redis: embeds the records through the
Cohere API within the rate limit shared by every worker using the same API key,
and writes the results to each job's sink.
`,
	Outro: `
Environment:
  COHERE_API_KEY    Cohere API key, required (or CO_API_KEY, or
                    COHERE_API_KEY_FILE naming a file holding it)
  COHERE_BASE_URL   API base URL, or CO_API_URL (default https://api.cohere.com)
  REDIS_URL         Redis holding the queue (default for -redis)
  DATABASE_URL      PostgreSQL for jobs with a postgres sink
`,
}
