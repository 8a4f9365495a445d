package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/cobatch/cobatch/cmd/internal/jobview"
	"github.com/cobatch/cobatch/internal/cli"
	"github.com/cobatch/cobatch/internal/version"
	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/input"
)

// commands are the words enqueue takes as its first positional argument.
var commands = append([]string{"version", "help"}, subcommands...)

// dispatch runs the command named by the first positional argument, which
// may follow flags (enqueue -redis URL status JOB). done is false when the
// line plans a job: its positional arguments are input files. A word that
// is neither a command nor a file is an error with a hint, so that a typo
// (enqueue stats JOB) is not taken for an input.
func dispatch(args []string, fs *flag.FlagSet, help cli.Help, env cli.Env, stdout, stderr io.Writer) (code int, done bool) {
	ctl := controlFlags(&controlOptions{})
	unknown := ""
	i := cli.FirstArg(args, func(name string) bool {
		if fs.Lookup(name) == nil && ctl.Lookup(name) == nil && unknown == "" {
			unknown = name
		}
		return cli.TakesValue(fs, name) || cli.TakesValue(ctl, name)
	})
	if i < 0 {
		return 0, false
	}
	word, rest := args[i], append(args[:i:i], args[i+1:]...)
	switch {
	case word == "version":
		fmt.Fprintln(stdout, "enqueue", version.String())
		return jobview.ExitOK, true
	case word == "help":
		help.Print(stdout, fs)
		return jobview.ExitOK, true
	case isSubcommand(word):
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runControl(ctx, word, rest, env, stdout, stderr), true
	case looksLikeInput(word), unknown != "":
		// An unknown flag is reported by the parse, before the word it
		// may have been meant to take.
		return 0, false
	}
	msg := fmt.Sprintf("enqueue: %q is neither a command nor an input file", word)
	if s := cli.Suggest(word, commands); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	fmt.Fprintf(stderr, "%s\nCommands: %s. Run 'enqueue -h' for the flags.\n", msg, strings.Join(commands, ", "))
	return jobview.ExitUsage, true
}

// looksLikeInput reports whether a positional argument is meant as an input:
// stdin (or a name after "--"), a path or glob, or a file that exists.
func looksLikeInput(arg string) bool {
	if strings.HasPrefix(arg, "-") || strings.ContainsAny(arg, `/.*?[\`) {
		return true
	}
	_, err := os.Stat(arg)
	return err == nil
}

// checkInputs refuses, before anything is planned, an input that does not
// exist (exit 1: nothing ran) rather than letting planning abort the job.
func checkInputs(spec pipeline.Spec) error {
	if err := input.Check(spec.Inputs); err != nil {
		return err
	}
	if spec.Candidates != "" {
		if _, err := os.Stat(spec.Candidates); err != nil {
			return fmt.Errorf("-candidates: %w", err)
		}
	}
	return nil
}
