// Package version tells which build of cobatch is running. Release builds
// stamp it with the linker:
//
//	go build -ldflags "-X github.com/cobatch/cobatch/internal/version.Version=v1.2.3" ./cmd/...
//
// Without the stamp, String falls back to what the Go toolchain recorded
// (a module version, or the VCS revision), else "devel".
package version
