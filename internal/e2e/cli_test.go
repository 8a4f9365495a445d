package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

// cleanEnv is the environment of a command line test: no Redis, no key, no
// API URL from the machine running the tests.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "REDIS_URL", "COHERE_API_KEY", "COHERE_API_KEY_FILE", "COHERE_BASE_URL", "CO_API_KEY", "CO_API_URL", "DATABASE_URL":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// runBin runs a binary to its end in dir and returns its exit code, stdout
// and stderr.
func runBin(t *testing.T, env []string, dir, bin string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env, cmd.Dir = env, dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := exitCode(err)
	if code < 0 {
		t.Fatalf("%s %v: %v", filepath.Base(bin), args, err)
	}
	return code, stdout.String(), stderr.String()
}

// writeLines writes a JSONL input of the given texts, ids r0, r1...
func writeLines(t *testing.T, dir string, texts ...string) string {
	t.Helper()
	var b strings.Builder
	for i, s := range texts {
		fmt.Fprintf(&b, "{\"id\":\"r%d\",\"text\":%q}\n", i, s)
	}
	path := filepath.Join(dir, "small.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// sinkIDs returns the ids a Parquet sink holds for job, sorted.
func sinkIDs(t *testing.T, dir, job string) []string {
	t.Helper()
	var ids []string
	if err := parquet.ReadJob(dir, job, func(e sinks.Embedding) error {
		ids = append(ids, e.ID)
		return nil
	}); err != nil {
		t.Fatalf("read sink %s/%s: %v", dir, job, err)
	}
	slices.Sort(ids)
	return ids
}

// TestFlagsAnywhere: flags after an input file are flags, not more inputs.
func TestFlagsAnywhere(t *testing.T) {
	t.Parallel()
	enqueue, _ := binaries(t)
	dir := t.TempDir()
	writeLines(t, dir, "alpha", "beta", "gamma")
	code, stdout, stderr := runBin(t, cleanEnv(), dir, enqueue,
		"-sim", "small.jsonl", "-sink", "parquet:out", "-job", "anywhere", "-log-format", "json")
	if code != exitOK || !strings.Contains(stdout, "3 written, 0 skipped, 0 failed, 3 total") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if ids := sinkIDs(t, filepath.Join(dir, "out"), "anywhere"); !slices.Equal(ids, []string{"r0", "r1", "r2"}) {
		t.Errorf("sink holds %v, want r0 r1 r2", ids)
	}
	// After "--" a name starting with "-" is an input file.
	if err := os.Rename(filepath.Join(dir, "small.jsonl"), filepath.Join(dir, "-odd.jsonl")); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runBin(t, cleanEnv(), dir, enqueue,
		"-sim", "-sink", "parquet:out2", "-job", "dashdash", "-log-format", "json", "--", "-odd.jsonl")
	if code != exitOK || !strings.Contains(stdout, "3 written") {
		t.Fatalf("after --: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestUnknownCommandsAndFlags: a typo is an error with a hint, exit 1, and
// never read as an input file.
func TestUnknownCommandsAndFlags(t *testing.T) {
	t.Parallel()
	enqueue, worker := binaries(t)
	dir := t.TempDir()
	writeLines(t, dir, "alpha")
	tests := []struct {
		bin  string
		args []string
		want string
	}{
		{enqueue, []string{"stats", "JOB"}, `"stats" is neither a command nor an input file (did you mean status?)`},
		{enqueue, []string{"-redis", "redis://127.0.0.1:1", "stauts", "JOB"}, "(did you mean status?)"},
		{enqueue, []string{"lst"}, "(did you mean list?)"},
		{enqueue, []string{"-sim", "small.jsonl", "-sinc", "parquet:out"}, "unknown flag -sinc (did you mean -sink?)"},
		{enqueue, []string{"-sinc", "parquet:out", "small.jsonl"}, "unknown flag -sinc (did you mean -sink?)"},
		{enqueue, []string{"status", "JOB", "-jsn"}, "enqueue status: unknown flag -jsn (did you mean -json?)"},
		{enqueue, []string{"-chunk-size", "many", "small.jsonl"}, `invalid value "many" for flag -chunk-size`},
		{worker, []string{"-concurency", "4"}, "unknown flag -concurency (did you mean -concurrency?)"},
		{worker, []string{"start"}, `unexpected argument "start"`},
	}
	for _, tc := range tests {
		code, stdout, stderr := runBin(t, cleanEnv(), dir, tc.bin, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s %v: exit %d, stderr %q; want exit 1 with %q", filepath.Base(tc.bin), tc.args, code, stderr, tc.want)
		}
		if strings.Contains(stderr, "stat ") || strings.Contains(stderr, "Usage:") || stdout != "" {
			t.Errorf("%s %v: stdout %q, stderr %q; want one error line, no stat of a file, no usage", filepath.Base(tc.bin), tc.args, stdout, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a line with a bad flag wrote output: %v", err)
	}
}

// TestExitCodes follows the README's table: 0 done, 1 nothing ran (a
// missing input among them), 2 failed records, 3 aborted.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	enqueue, _ := binaries(t)
	dir := t.TempDir()
	writeLines(t, dir, "alpha", "", "gamma") // the empty text is a failed record
	ok := filepath.Join(dir, "ok.jsonl")
	if err := os.WriteFile(ok, []byte("{\"id\":\"a\",\"text\":\"alpha\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	redisURL := testenv.RedisURL(t)
	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want string // in stderr, or stdout for the job's outcome
	}{
		{"done", nil, []string{"-sim", "ok.jsonl", "-sink", "parquet:o0"}, 0, "1 written"},
		{"missing input", nil, []string{"-sim", "nope.jsonl", "-sink", "parquet:o1"}, 1, "nope.jsonl: no such file or directory"},
		{"missing input on redis", []string{"REDIS_URL=" + redisURL}, []string{"-sim", "-in", "nope.jsonl", "-job", "missing-in", "-sink", "parquet:o1"}, 1, "nope.jsonl: no such file or directory"},
		{"missing glob", nil, []string{"-sim", "-in", "none-*.jsonl", "-sink", "parquet:o1"}, 1, "no file matches"},
		{"missing candidates", nil, []string{"-sim", "-op", "rerank", "ok.jsonl", "-candidates", "nope.jsonl", "-sink", "parquet:o1"}, 1, "-candidates"},
		{"failed records", nil, []string{"-sim", "small.jsonl", "-sink", "parquet:o2"}, 2, "2 written, 0 skipped, 1 failed"},
		{"over budget", nil, []string{"-sim", "ok.jsonl", "-max-cost", "0.0000000001", "-sink", "parquet:o3"}, 3, "budget"},
	}
	for _, tc := range tests {
		code, stdout, stderr := runBin(t, cleanEnv(append(tc.env, "COHERE_API_KEY=")...), dir, enqueue, append(tc.args, "-log-format", "json")...)
		if code != tc.code || !strings.Contains(stdout+stderr, tc.want) {
			t.Errorf("%s: exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", tc.name, code, tc.code, tc.want, stdout, stderr)
		}
	}
	// Refused before planning: Redis holds no trace of the job.
	code, _, _ := runBin(t, cleanEnv(), dir, enqueue, "status", "-redis", redisURL, "missing-in")
	if code != exitUsage {
		t.Errorf("status of the job whose input was missing: exit %d, want 1 (no such job)", code)
	}
}

// TestVersion: enqueue version and worker -version print the stamped
// version, exit 0.
func TestVersion(t *testing.T) {
	t.Parallel()
	enqueue, worker := binaries(t)
	for _, tc := range []struct {
		bin  string
		args []string
		want string
	}{
		{enqueue, []string{"version"}, "enqueue " + testVersion + "\n"},
		{enqueue, []string{"-version"}, "enqueue " + testVersion + "\n"},
		{worker, []string{"-version"}, "worker " + testVersion + "\n"},
	} {
		code, stdout, stderr := runBin(t, cleanEnv(), t.TempDir(), tc.bin, tc.args...)
		if code != 0 || stdout != tc.want || stderr != "" {
			t.Errorf("%s %v: exit %d, stdout %q, stderr %q; want exit 0, %q", filepath.Base(tc.bin), tc.args, code, stdout, stderr, tc.want)
		}
	}
}

// TestOldFlagsAreAliases: -status, -dead-letters and -cancel print exactly
// what their subcommands print, and name the subcommand on stderr.
func TestOldFlagsAreAliases(t *testing.T) {
	t.Parallel()
	enqueue, worker := binaries(t)
	fake := coheretest.NewServer()
	defer fake.Close()
	redisURL := testenv.RedisURL(t)
	env := cleanEnv("REDIS_URL="+redisURL, "COHERE_BASE_URL="+fake.URL, "COHERE_API_KEY="+coheretest.DefaultAPIKey)
	start(t, env, worker, "-concurrency", "2", "-http", "", "-rate-limit", "embed=1000000/1m", "-log-format", "json")
	dir := t.TempDir()
	writeLines(t, dir, "alpha", "", "gamma", "delta")
	code, stdout, stderr := runBin(t, env, dir, enqueue, "small.jsonl", "-job", "old-flags", "-sink", "parquet:out", "-wait", "-log-format", "json")
	if code != exitFailed || !strings.Contains(stdout, "3 written, 0 skipped, 1 failed") || !strings.Contains(stdout, "enqueue dead-letters old-flags") {
		t.Fatalf("job: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, tc := range []struct{ old, sub []string }{
		{[]string{"-status", "old-flags"}, []string{"status", "old-flags"}},
		{[]string{"-dead-letters", "old-flags"}, []string{"dead-letters", "-json", "old-flags"}},
	} {
		oc, oout, oerr := runBin(t, env, dir, enqueue, tc.old...)
		sc, sout, serr := runBin(t, env, dir, enqueue, tc.sub...)
		hint := "old spelling of: enqueue " + strings.Join(tc.sub, " ")
		if oc != 0 || sc != 0 || oout != sout || sout == "" || !strings.Contains(oerr, hint) || serr != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q\n%v: exit %d, stdout %q, stderr %q\nwant the same output, and %q on the old flag's stderr",
				tc.old, oc, oout, oerr, tc.sub, sc, sout, serr, hint)
		}
	}
	if _, out, _ := runBin(t, env, dir, enqueue, "dead-letters", "-json", "old-flags"); !strings.Contains(out, `"id":"r1"`) || strings.Count(out, "\n") != 1 {
		t.Errorf("dead-letters -json: %q; want the one failed record r1", out)
	}
	code, stdout, stderr = runBin(t, env, dir, enqueue, "-cancel", "old-flags")
	if code != 0 || stdout != "job old-flags cancelled\n" || !strings.Contains(stderr, "old spelling of: enqueue cancel old-flags") {
		t.Errorf("-cancel: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestHelpIsGrouped: -h lists the flags by section, each once, on stdout,
// exit 0; the old flags are not listed.
func TestHelpIsGrouped(t *testing.T) {
	t.Parallel()
	enqueue, worker := binaries(t)
	for _, tc := range []struct {
		bin      string
		sections []string
		flags    []string
	}{
		{enqueue, []string{"Input:", "Operation:", "Sink:", "Rate and cost:", "Job control:", "Output:", "Exit codes:", "Environment:"},
			[]string{"-in list", "-sink string", "-max-cost float", "-wait", "-redis string", "-log-format string"}},
		{worker, []string{"Queue:", "Rate and API:", "Scheduling:", "HTTP listener:", "Output:", "Environment:"},
			[]string{"-redis string", "-concurrency int", "-schedule value", "-http string", "-version"}},
	} {
		code, stdout, stderr := runBin(t, cleanEnv(), t.TempDir(), tc.bin, "-h")
		if code != 0 || stderr != "" {
			t.Fatalf("%s -h: exit %d, stderr %q", filepath.Base(tc.bin), code, stderr)
		}
		at := -1
		for _, s := range tc.sections {
			i := strings.Index(stdout, "\n"+s+"\n")
			if i <= at {
				t.Errorf("%s -h: section %q missing or out of order", filepath.Base(tc.bin), s)
			}
			at = i
		}
		if strings.Contains(stdout, "\nOther:\n") {
			t.Errorf("%s -h has flags in no section:\n%s", filepath.Base(tc.bin), stdout)
		}
		for _, f := range tc.flags {
			if strings.Count(stdout, "\n  "+f+" ") != 1 {
				t.Errorf("%s -h lists %q %d times, want once", filepath.Base(tc.bin), f, strings.Count(stdout, "\n  "+f+" "))
			}
		}
		if tc.bin == enqueue {
			for _, old := range []string{"-status", "-dead-letters", "-cancel"} {
				if strings.Contains(stdout, "\n  "+old+" ") {
					t.Errorf("enqueue -h lists the old flag %s", old)
				}
			}
			if !strings.Contains(stdout, `(default "parquet:./out")`) || !strings.Contains(stdout, "(default 8)") {
				t.Errorf("enqueue -h does not show the defaults:\n%s", stdout)
			}
		}
	}
}

// TestCohereSDKEnvNames: CO_API_KEY and CO_API_URL, the names Cohere's SDKs
// read, work beside COHERE_API_KEY and COHERE_BASE_URL.
func TestCohereSDKEnvNames(t *testing.T) {
	t.Parallel()
	enqueue, _ := binaries(t)
	fake := coheretest.NewServer()
	defer fake.Close()
	dir := t.TempDir()
	writeLines(t, dir, "alpha", "beta")
	code, stdout, stderr := runBin(t, cleanEnv("CO_API_KEY="+coheretest.DefaultAPIKey, "CO_API_URL="+fake.URL), dir, enqueue,
		"small.jsonl", "-job", "co-env", "-sink", "parquet:out", "-log-format", "json")
	if code != 0 || !strings.Contains(stdout, "2 written") {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if n := fake.Stats().EmbeddedTexts; n != 2 {
		t.Errorf("the fake at CO_API_URL embedded %d texts, want 2", n)
	}
	if ids := sinkIDs(t, filepath.Join(dir, "out"), "co-env"); !slices.Equal(ids, []string{"r0", "r1"}) {
		t.Errorf("sink holds %v", ids)
	}
	// The key is the one sent: a wrong CO_API_KEY is refused by the API.
	code, stdout, stderr = runBin(t, cleanEnv("CO_API_KEY=wrong-key", "CO_API_URL="+fake.URL), dir, enqueue,
		"small.jsonl", "-job", "co-env-bad", "-sink", "parquet:out", "-log-format", "json")
	if code != exitAborted || strings.Contains(stdout+stderr, "wrong-key") {
		t.Errorf("wrong CO_API_KEY: exit %d, want 3 without the key in the output\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if n := fake.Stats().EmbeddedTexts; n != 2 {
		t.Errorf("the fake embedded %d texts after a wrong key, want still 2", n)
	}
}

// openPTY returns a pseudo-terminal of the given size: the side a command
// writes to, and the side this test reads.
func openPTY(t *testing.T, cols, rows uint16) (tty, pty *os.File) {
	t.Helper()
	pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	fd := int(pty.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open tty: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows}); err != nil {
		t.Fatalf("set size: %v", err)
	}
	return tty, pty
}

var (
	escape     = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)
	progressRE = regexp.MustCompile(`^(\[[= ]*\] )?\d+/\d+ records`)
)

// TestProgressFitsTheTerminal runs a job with stderr on a 60-column
// terminal: every redraw of the progress line fits in it.
func TestProgressFitsTheTerminal(t *testing.T) {
	t.Parallel()
	enqueue, _ := binaries(t)
	corpus, _ := writeCorpus(t, 4000)
	tty, pty := openPTY(t, 60, 24)
	defer pty.Close()
	var stdout bytes.Buffer
	cmd := exec.Command(enqueue, "-sim", "-in", corpus, "-sink", "parquet:"+t.TempDir(), "-chunk-size", "100",
		"-concurrency", "2", "-rate-limit", "embed=20000/1m")
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = &stdout, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := make(chan string)
	go func() {
		b, _ := io.ReadAll(pty) // ends with EIO once no process holds the tty
		read <- string(b)
	}()
	err := cmd.Wait()
	tty.Close()
	screen := <-read
	if err != nil || !strings.Contains(stdout.String(), "4000 written") {
		t.Fatalf("enqueue: %v\nstdout:\n%s\nterminal:\n%s", err, stdout.String(), screen)
	}
	bars := 0
	for _, line := range strings.FieldsFunc(screen, func(r rune) bool { return r == '\r' || r == '\n' }) {
		line = escape.ReplaceAllString(line, "")
		if progressRE.MatchString(line) {
			bars++
			if n := utf8.RuneCountInString(line); n >= 60 {
				t.Errorf("progress line of %d columns on a 60-column terminal: %q", n, line)
			}
		}
	}
	if bars == 0 {
		t.Errorf("no progress line drawn on the terminal:\n%s", screen)
	}
	// On a terminal the log is text, not JSON.
	if !strings.Contains(screen, `msg="job planned"`) {
		t.Errorf("log on a terminal is not text:\n%s", screen)
	}
}
