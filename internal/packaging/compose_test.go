package packaging

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

type composeFile struct {
	Services map[string]service `json:"services"`
}

type service struct {
	Image           string            `json:"image"`
	Build           string            `json:"build"`
	Entrypoint      []string          `json:"entrypoint"`
	Command         []string          `json:"command"`
	Environment     map[string]string `json:"environment"`
	Volumes         []string          `json:"volumes"`
	Profiles        []string          `json:"profiles"`
	StopGracePeriod string            `json:"stop_grace_period"`
	DependsOn       map[string]struct {
		Condition string `json:"condition"`
	} `json:"depends_on"`
	Deploy struct {
		Replicas int `json:"replicas"`
	} `json:"deploy"`
}

// flagValue returns the value of -name in argv.
func flagValue(argv []string, name string) (string, bool) {
	for i, a := range argv {
		if a == "-"+name && i+1 < len(argv) {
			return argv[i+1], true
		}
		if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func TestCompose(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(root, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	s := c.Services
	for _, name := range []string{"redis", "postgres", "cohere-sim", "worker", "enqueue"} {
		if _, ok := s[name]; !ok {
			t.Fatalf("no service %s", name)
		}
	}
	redis := strings.Join(s["redis"].Command, " ")
	if !strings.Contains(redis, "--appendonly yes") || !strings.Contains(redis, "--maxmemory-policy noeviction") {
		t.Errorf("redis command %q: want --appendonly yes and --maxmemory-policy noeviction", redis)
	}
	if !strings.HasPrefix(s["postgres"].Image, "pgvector/pgvector:") {
		t.Errorf("postgres image %q, want pgvector/pgvector", s["postgres"].Image)
	}
	// The three cobatch services run the image built from the Dockerfile.
	for name, entry := range map[string]string{"cohere-sim": "cohere-sim", "worker": "", "enqueue": "enqueue"} {
		sv := s[name]
		if sv.Image != "cobatch:latest" || sv.Build != "." {
			t.Errorf("%s: image %q build %q, want cobatch:latest built from .", name, sv.Image, sv.Build)
		}
		if want := []string{entry}; entry != "" && !slices.Equal(sv.Entrypoint, want) {
			t.Errorf("%s: entrypoint %q, want %q", name, sv.Entrypoint, want)
		}
		if entry == "" && sv.Entrypoint != nil {
			t.Errorf("%s: entrypoint %q, want the image's (the worker)", name, sv.Entrypoint)
		}
	}
	w, e := s["worker"], s["enqueue"]
	if w.Deploy.Replicas < 1 {
		t.Errorf("worker replicas %d", w.Deploy.Replicas)
	}
	// Docker kills a container stop_grace_period after SIGTERM: the worker
	// must have had its whole shutdown timeout by then.
	st, ok := flagValue(w.Command, "shutdown-timeout")
	if !ok {
		st = "30s" // the worker's default
	}
	shutdown, err := time.ParseDuration(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"worker", "enqueue"} {
		grace, err := time.ParseDuration(s[name].StopGracePeriod)
		if err != nil || grace < shutdown {
			t.Errorf("%s stop_grace_period %q, want ≥ the worker's -shutdown-timeout %s", name, s[name].StopGracePeriod, shutdown)
		}
	}
	// enqueue is a one-off (a profile), and sees the inputs where the workers
	// do: task payloads carry paths.
	if !slices.Contains(e.Profiles, "enqueue") {
		t.Errorf("enqueue profiles %q, want [enqueue]", e.Profiles)
	}
	if len(w.Volumes) == 0 || !slices.Equal(w.Volumes, e.Volumes) {
		t.Errorf("worker volumes %q, enqueue volumes %q: want the same", w.Volumes, e.Volumes)
	}
	for _, k := range []string{"REDIS_URL", "DATABASE_URL", "COHERE_BASE_URL", "COHERE_API_KEY"} {
		if w.Environment[k] == "" || w.Environment[k] != e.Environment[k] {
			t.Errorf("%s: worker %q, enqueue %q", k, w.Environment[k], e.Environment[k])
		}
	}
	if w.Environment["REDIS_URL"] != "redis://redis:6379/0" {
		t.Errorf("REDIS_URL %q, want the redis service", w.Environment["REDIS_URL"])
	}
	if w.DependsOn["redis"].Condition != "service_healthy" || w.DependsOn["postgres"].Condition != "service_healthy" {
		t.Errorf("worker depends_on %v: want healthy redis and postgres", w.DependsOn)
	}
	if sim, _ := flagValue(s["cohere-sim"].Command, "api-key"); !strings.HasSuffix(w.Environment["COHERE_API_KEY"], sim+"}") {
		t.Errorf("worker COHERE_API_KEY %q does not default to the simulator's key %q", w.Environment["COHERE_API_KEY"], sim)
	}
}

// TestComposeExampleInReadme checks that the README's distributed example
// uses compose.yaml as it is: the enqueue service, inputs under the mount
// every cobatch service shares.
func TestComposeExampleInReadme(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	cb, err := os.ReadFile(filepath.Join(root, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(cb, &c); err != nil {
		t.Fatal(err)
	}
	vol := c.Services["worker"].Volumes[0]
	i := strings.LastIndex(vol, ":")
	src, target := vol[:max(i, 0)], vol[i+1:]
	if i < 0 {
		t.Fatalf("worker volume %q", c.Services["worker"].Volumes[0])
	}
	hostDir := strings.TrimSuffix(strings.TrimPrefix(src, "${COBATCH_DATA:-"), "}")
	var run, cp string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "docker compose run --rm enqueue ") {
			run = l
		}
		if strings.Contains(l, "cp examples/kjv/verses.jsonl.gz ") {
			cp = l
		}
	}
	if run == "" || cp == "" {
		t.Fatal("README has no distributed example: docker compose run --rm enqueue … after copying the input into the shared directory")
	}
	in, _ := flagValue(strings.Fields(run), "in")
	if !strings.HasPrefix(in, target+"/") {
		t.Errorf("README's enqueue reads %q, outside the shared mount %s", in, target)
	}
	if !strings.Contains(cp, strings.TrimPrefix(hostDir, "./")+"/") {
		t.Errorf("README copies the input with %q, not into %s", cp, hostDir)
	}
	if _, err := os.Stat(filepath.Join(root, "examples/kjv", filepath.Base(in))); err != nil {
		t.Errorf("README's input %s: %v", in, err)
	}
}
