package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere/coheretest"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// bins builds the three commands once per test process.
type bins struct{ enqueue, worker, sim string }

func binaries(t testing.TB) bins {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "cobatch-chaos-bin")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/", "../../cmd/enqueue", "../../cmd/worker", "../../cmd/cohere-sim")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bins{filepath.Join(binDir, "enqueue"), filepath.Join(binDir, "worker"), filepath.Join(binDir, "cohere-sim")}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if path := os.Getenv("BENCH_MD"); path != "" {
		if err := writeReport(path); err != nil {
			fmt.Fprintln(os.Stderr, "write", path+":", err)
			code = 1
		}
	}
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// proc is a command running in the background; its output is kept so that a
// failing scenario can show it.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to end and returns its exit code (-1 when it
// was killed by a signal).
func (p *proc) wait(ctx context.Context) (int, error) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), nil
	case <-ctx.Done():
		return 0, fmt.Errorf("%s still running: %w", p.name, ctx.Err())
	}
}

// stop sends sig and waits for the process to end, killing it past timeout.
func (p *proc) stop(sig syscall.Signal, timeout time.Duration) {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func start(t testing.TB, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM, 15*time.Second)
		if t.Failed() {
			t.Logf("last output of %s:\n%s", name, lastLines(p.output(), 30))
		}
	})
	return p
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// sim is the Cohere simulator a scenario runs against: the cohere-sim
// process, or coheretest in this process where a scenario changes faults
// while the job runs.
type sim interface {
	URL() string
	Stats(t testing.TB) coheretest.Stats
}

type procSim struct {
	p   *proc
	url string
}

func (s *procSim) URL() string { return s.url }

func (s *procSim) Stats(t testing.TB) coheretest.Stats {
	t.Helper()
	resp, err := http.Get(s.url + "/_sim/stats")
	if err != nil {
		t.Fatalf("sim stats: %v", err)
	}
	defer resp.Body.Close()
	var st coheretest.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("sim stats: %v", err)
	}
	return st
}

// startSim runs cmd/cohere-sim on a free loopback port with the given flags.
func startSim(t testing.TB, b bins, args ...string) *procSim {
	t.Helper()
	pr, pw := io.Pipe()
	p := &proc{name: "cohere-sim", cmd: exec.Command(b.sim, append([]string{"-addr", "127.0.0.1:0"}, args...)...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = pw, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start cohere-sim: %v", err)
	}
	go func() { p.cmd.Wait(); pw.Close(); close(p.done) }()
	t.Cleanup(func() { p.stop(syscall.SIGTERM, 15*time.Second) })
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatalf("cohere-sim printed no address: %s", p.output())
	}
	_, url, ok := strings.Cut(sc.Text(), "listening on ")
	if !ok {
		t.Fatalf("cohere-sim: %q", sc.Text())
	}
	go io.Copy(io.Discard, pr)
	return &procSim{p: p, url: url}
}

type fakeSim struct{ *coheretest.Server }

func (s fakeSim) URL() string                       { return s.Server.URL }
func (s fakeSim) Stats(testing.TB) coheretest.Stats { return s.Server.Stats() }
