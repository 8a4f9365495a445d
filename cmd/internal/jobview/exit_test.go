package jobview

import (
	"errors"
	"flag"
	"testing"

	"github.com/cobatch/cobatch/pipeline"
	"github.com/cobatch/cobatch/pipeline/jobstore"
)

// TestExitCode follows README's exit-code table: 0 every record written or
// skipped, 2 done with failed records, 3 a job that did not finish.
func TestExitCode(t *testing.T) {
	tests := []struct {
		st   pipeline.Status
		want int
	}{
		{pipeline.Status{State: jobstore.StateDone, Written: 3, Skipped: 2}, ExitOK},
		{pipeline.Status{State: jobstore.StateDone, Written: 3, Failed: 1}, ExitFailed},
		{pipeline.Status{State: jobstore.StateAborted, Reason: "invalid api token"}, ExitAborted},
		{pipeline.Status{State: jobstore.StateAborted, Failed: 1}, ExitAborted},
		{pipeline.Status{State: jobstore.StateCancelled}, ExitAborted},
	}
	for _, tc := range tests {
		if got := ExitCode(tc.st); got != tc.want {
			t.Errorf("%s with %d failed: exit %d, want %d", tc.st.State, tc.st.Failed, got, tc.want)
		}
	}
	if ExitOK != 0 || ExitUsage != 1 || ExitFailed != 2 || ExitAborted != 3 {
		t.Errorf("exit codes %d %d %d %d, want README's 0 1 2 3", ExitOK, ExitUsage, ExitFailed, ExitAborted)
	}
}

// TestArgsExit: -h is a success, any other refused command line a usage error.
func TestArgsExit(t *testing.T) {
	if got := ArgsExit(flag.ErrHelp); got != ExitOK {
		t.Errorf("-h: exit %d, want %d", got, ExitOK)
	}
	if got := ArgsExit(errors.New("flag provided but not defined: -nope")); got != ExitUsage {
		t.Errorf("unknown flag: exit %d, want %d", got, ExitUsage)
	}
}
