package version_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestStamp builds a binary with the linker flag the Dockerfile and the
// Makefile use and checks that it reports the stamped version.
func TestStamp(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "stamp")
	for _, tc := range []struct{ ldflags, want string }{
		{"-X github.com/cobatch/cobatch/internal/version.Version=v9.8.7-test", "v9.8.7-test"},
		{"", "devel"},
	} {
		build := exec.Command("go", "build", "-buildvcs=false", "-ldflags", tc.ldflags, "-o", bin, "./testdata/stamp")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin).Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != tc.want {
			t.Errorf("ldflags %q: version %q, want %q", tc.ldflags, got, tc.want)
		}
	}
}
