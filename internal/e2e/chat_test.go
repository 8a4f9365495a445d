package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cobatch/cobatch/cohere/coheretest"
	"github.com/cobatch/cobatch/internal/testenv"
	"github.com/cobatch/cobatch/sinks"
	"github.com/cobatch/cobatch/sinks/parquet"
)

var (
	simOnce sync.Once
	simBin  string
	simErr  error
)

// simulator builds cmd/cohere-sim once per test process.
func simulator(t *testing.T) string {
	t.Helper()
	simOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cobatch-e2e-sim")
		if err != nil {
			simErr = err
			return
		}
		simBin = filepath.Join(dir, "cohere-sim")
		if out, err := exec.Command("go", "build", "-o", simBin, "../../cmd/cohere-sim").CombinedOutput(); err != nil {
			simErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if simErr != nil {
		t.Fatal(simErr)
	}
	return simBin
}

// startSimulator starts cmd/cohere-sim on a free port with args and
// returns its address once it listens.
func startSimulator(t *testing.T, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	p := start(t, nil, simulator(t), append([]string{"-addr", addr}, args...)...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		up := strings.Contains(p.out.String(), "listening")
		p.mu.Unlock()
		if up {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatal("cohere-sim did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestChatThroughSimulator runs a chat job through the real binaries
// against cmd/cohere-sim, whose chat limit is below the worker's so that
// 429s happen: every record is written once with the simulator's reply to
// its prompt, none fails, and a re-run makes no call.
func TestChatThroughSimulator(t *testing.T) {
	t.Parallel()
	enqueue, worker := binaries(t)
	addr := startSimulator(t, "-rate-limit", "chat=20/1s")
	env := []string{"REDIS_URL=" + testenv.RedisURL(t), "COHERE_BASE_URL=http://" + addr,
		"COHERE_API_KEY=" + coheretest.DefaultAPIKey, "DATABASE_URL="}
	start(t, env, worker, "-concurrency", "4", "-http", "", "-rate-limit", "chat=40/1s")

	const n = 100
	var b strings.Builder
	texts := map[string]string{}
	for i := range n {
		id := fmt.Sprintf("t%03d", i)
		texts[id] = fmt.Sprintf("ticket %d: the printer on floor %d is jammed", i, i%7)
		fmt.Fprintf(&b, "{\"id\":%q,\"text\":%q,\"team\":\"ops-%d\"}\n", id, texts[id], i%3)
	}
	in := filepath.Join(t.TempDir(), "tickets.jsonl")
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	run := func() string {
		var stdout bytes.Buffer
		cmd := exec.Command(enqueue, "-op", "chat", "-in", in, "-sink", "parquet:"+out, "-job", "chat-sim",
			"-prompt", "For team {{.team}}, summarise: {{.text}}", "-max-tokens", "200", "-wait")
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = &stdout, &stdout
		if err := cmd.Run(); err != nil {
			t.Fatalf("enqueue: %v\n%s", err, stdout.String())
		}
		return stdout.String()
	}
	first := run()
	if !strings.Contains(first, fmt.Sprintf("%d written, 0 skipped, 0 failed, %d total", n, n)) {
		t.Fatalf("summary:\n%s", first)
	}
	var calls, tokens, limited int
	for _, line := range strings.Split(first, "\n") {
		if strings.Contains(line, "rate-limited") {
			fmt.Sscanf(strings.TrimSpace(line), "api: %d calls, %d tokens billed, %d rate-limited", &calls, &tokens, &limited)
		}
	}
	if limited == 0 || calls != n+limited {
		t.Errorf("%d calls, %d rate-limited: want 429s met by waiting, each record answered once\n%s", calls, limited, first)
	}
	rows := 0
	err := parquet.ReadChats(out, "chat-sim", func(c sinks.ChatResult) error {
		rows++
		var i int
		fmt.Sscanf(c.ID, "t%03d", &i)
		prompt := fmt.Sprintf("For team ops-%d, summarise: %s", i%3, texts[c.ID])
		if want := coheretest.ChatText("command-a-03-2025", 0, []coheretest.Turn{{Role: "user", Text: prompt}}); c.Output != want {
			return fmt.Errorf("%s: output %q, want %q", c.ID, c.Output, want)
		}
		return nil
	})
	if err != nil || rows != n {
		t.Fatalf("%d rows: %v", rows, err)
	}
	second := run()
	if !strings.Contains(second, fmt.Sprintf("0 written, %d skipped, 0 failed", n)) || !strings.Contains(second, " 0 calls") {
		t.Fatalf("re-run:\n%s", second)
	}
}
