package packaging

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// root is the repository root, seen from this package's directory.
const root = "../.."

type instruction struct {
	cmd  string // upper case, e.g. FROM
	args string
	line int
}

// parseDockerfile splits a Dockerfile into instructions: comments and blank
// lines dropped, backslash continuations joined.
func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if cur.Len() == 0 && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\") + " ")
			continue
		}
		cur.WriteString(l)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args), start})
		cur.Reset()
	}
	return out
}

type stage struct {
	from, name string
	ins        []instruction
}

func stages(ins []instruction) []stage {
	var st []stage
	for _, in := range ins {
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			st = append(st, s)
			continue
		}
		if len(st) > 0 {
			st[len(st)-1].ins = append(st[len(st)-1].ins, in)
		}
	}
	return st
}

func TestDockerfile(t *testing.T) {
	t.Parallel()
	st := stages(parseDockerfile(t, filepath.Join(root, "Dockerfile")))
	if len(st) < 2 {
		t.Fatalf("%d stages, want a multi-stage build", len(st))
	}
	build, final := st[0], st[len(st)-1]
	if !strings.HasPrefix(build.from, "golang:") || build.name != "build" {
		t.Errorf("first stage FROM %s AS %s, want a golang image named build", build.from, build.name)
	}
	// The final image holds nothing but what the build stage copies in.
	if final.from != "scratch" {
		t.Errorf("final stage FROM %s, want scratch", final.from)
	}
	var user, entrypoint string
	var copies []string
	var env []string
	for _, in := range final.ins {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "COPY":
			copies = append(copies, in.args)
		case "ENV":
			env = append(env, in.args)
		case "RUN":
			t.Errorf("line %d: RUN in the final stage, which has no shell", in.line)
		case "CMD":
			t.Errorf("line %d: CMD in the final stage: the worker's flags default sensibly", in.line)
		}
	}
	if uid, _, _ := strings.Cut(user, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("USER %q, want a non-root user", user)
	}
	var argv []string
	if err := json.Unmarshal([]byte(entrypoint), &argv); err != nil || len(argv) == 0 {
		t.Errorf("ENTRYPOINT %q is not in exec form (a JSON array): the command must be PID 1 to get SIGTERM", entrypoint)
	} else if argv[0] != "/usr/local/bin/worker" {
		t.Errorf("ENTRYPOINT %v, want the worker", argv)
	}
	if !slices.Contains(copies, "--from=build /rootfs/fs/ /") || !slices.Contains(copies, "--from=build --chown=65532:65532 /rootfs/user/ /") {
		t.Errorf("final stage copies %q, want --from=build /rootfs/fs/ / and the user's /rootfs/user/ (its /data)", copies)
	}
	if user != "65532:65532" {
		t.Errorf("USER %q, want 65532:65532, the owner of /data", user)
	}
	if !slices.ContainsFunc(env, func(e string) bool { return strings.Contains(e, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt") }) {
		t.Errorf("ENV %q does not point SSL_CERT_FILE at the CA bundle", env)
	}
	// The build stage builds the root filesystem with the script; the
	// version comes in as a build argument.
	var runs, args []string
	for _, in := range build.ins {
		switch in.cmd {
		case "RUN":
			runs = append(runs, in.args)
		case "ARG":
			args = append(args, in.args)
		}
	}
	if !slices.Contains(runs, `scripts/build-rootfs.sh /rootfs "${VERSION}"`) || !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "VERSION") }) {
		t.Errorf("build stage RUN %q ARG %q: want scripts/build-rootfs.sh /rootfs \"${VERSION}\" with ARG VERSION", runs, args)
	}
}

// TestBuildRootfs checks what the build stage's script puts in the image.
func TestBuildRootfs(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(root, "scripts/build-rootfs.sh"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		"CGO_ENABLED=0 go build",
		"-X github.com/cobatch/cobatch/internal/version.Version=$version",
		"./cmd/enqueue ./cmd/worker ./cmd/cohere-sim",
		`-o "$out/usr/local/bin/"`,
		`"$dir/user/data"`,
		`cp "$certs" "$out/etc/ssl/certs/ca-certificates.crt"`,
		"uid=65532",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("scripts/build-rootfs.sh lacks %q", want)
		}
	}
	// The stamped variable exists where the flag points.
	v, err := os.ReadFile(filepath.Join(root, "internal/version/version.go"))
	if err != nil || !strings.Contains(string(v), "\nvar Version string\n") {
		t.Errorf("internal/version has no var Version string (err %v)", err)
	}
}
