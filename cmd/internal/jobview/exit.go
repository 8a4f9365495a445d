package jobview

import (
	"errors"
	"flag"

	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// The commands' exit codes: those of `enqueue -wait` are the table in
// README.md, which schedulers depend on; the worker exits ExitUsage or ExitOK.
const (
	ExitOK      = 0 // every record written or skipped
	ExitUsage   = 1 // usage or configuration error before anything ran
	ExitFailed  = 2 // finished, with failed records
	ExitAborted = 3 // aborted: auth, quota, billing, or the sink unreachable
)

// ExitCode maps a final job status to the process exit code.
func ExitCode(s pipeline.Status) int {
	switch {
	case s.State == jobstore.StateDone && s.Failed == 0:
		return ExitOK
	case s.State == jobstore.StateDone:
		return ExitFailed
	default:
		return ExitAborted
	}
}

// ArgsExit is the exit code of a command line that cli.Help.ParseArgs
// refused: ExitOK once -h printed the help (flag.ErrHelp), else ExitUsage.
func ArgsExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	return ExitUsage
}
