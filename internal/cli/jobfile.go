package cli

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/cobatch/cobatch/pipeline"
)

// RunFlags are enqueue's flags that say how to run a job rather than what it
// is. A job file may hold them; a worker planning the file ignores them.
var RunFlags = []string{"wait", "redis", "concurrency", "rate-limit", "queue", "api-timeout", "sim", "query", "log-format", "v"}

// pathFlags hold paths, which a job file gives relative to itself.
var pathFlags = []string{"in", "examples", "candidates"}

// ApplyFile sets the flags of fs from a job file, YAML or JSON, whose keys
// are flag names: `in: [a.jsonl, b.jsonl]`, `chunk-size: 500`. A list sets a
// repeatable flag once per item and any other flag to the comma-joined
// items. Flags already given (on the command line) keep their value: they
// override the file. Keys naming no flag of fs are an error, except those
// in ignore.
func ApplyFile(fs *flag.FlagSet, path string, ignore []string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("job file: %w", err)
	}
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		return fmt.Errorf("job file %s: %w", path, err)
	}
	var kv map[string]any
	if err := json.Unmarshal(js, &kv); err != nil {
		return fmt.Errorf("job file %s: want a map of flag names to values: %w", path, err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	dir := filepath.Dir(path)
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		name := strings.TrimLeft(k, "-")
		f := fs.Lookup(name)
		if f == nil {
			if slices.Contains(ignore, name) {
				continue
			}
			return fmt.Errorf("job file %s: %q is not a flag", path, k)
		}
		if given[name] {
			continue
		}
		vals, err := fileValues(kv[k])
		if err != nil {
			return fmt.Errorf("job file %s: %s: %w", path, k, err)
		}
		if slices.Contains(pathFlags, name) || (name == "sink" && len(vals) == 1 && strings.HasPrefix(vals[0], "parquet:")) {
			for i, v := range vals {
				vals[i] = relativeTo(dir, v)
			}
		}
		if _, repeatable := f.Value.(*ListFlag); !repeatable && len(vals) > 1 {
			vals = []string{strings.Join(vals, ",")}
		}
		for _, v := range vals {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("job file %s: %s: %w", path, k, err)
			}
		}
	}
	return nil
}

// relativeTo resolves a path of a job file against the file's directory.
func relativeTo(dir, v string) string {
	prefix := ""
	if p, ok := strings.CutPrefix(v, "parquet:"); ok {
		prefix, v = "parquet:", p
	}
	if v == "-" || filepath.IsAbs(v) {
		return prefix + v
	}
	return prefix + filepath.Join(dir, v)
}

func fileValues(v any) ([]string, error) {
	switch x := v.(type) {
	case []any:
		var out []string
		for _, e := range x {
			s, err := fileValues(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
		}
		return out, nil
	case string:
		return []string{x}, nil
	case bool:
		return []string{strconv.FormatBool(x)}, nil
	case float64:
		return []string{strconv.FormatFloat(x, 'f', -1, 64)}, nil
	case nil:
		return nil, nil
	default:
		return nil, fmt.Errorf("want a string, number, bool or list, got %T", v)
	}
}

// ParseJobFile reads a job file into a spec, as `enqueue -f FILE` would (run
// flags in it are ignored), and returns the database URL of a postgres sink.
func ParseJobFile(path string, env Env) (pipeline.Spec, string, error) {
	var j JobFlags
	fs := flag.NewFlagSet("job file", flag.ContinueOnError)
	j.Register(fs)
	if err := ApplyFile(fs, path, RunFlags); err != nil {
		return pipeline.Spec{}, "", err
	}
	return j.Spec(env)
}
