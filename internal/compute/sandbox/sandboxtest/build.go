// Package sandboxtest builds what the sandbox backend's tests and
// benchmarks run: the guest agent and a test program, both static Go
// binaries (CGO_ENABLED=0) cached under the user's cache directory
// (goaleph/sandbox), and a minimal runtime root file system.
//
// The builds need the module's sources, so they work from a checkout
// (tests, `go run`), not from an installed binary.
package sandboxtest

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"github.com/goaleph/goaleph/internal/testbuild"
)

// Agent builds cmd/aleph-guest and returns the binary's path.
func Agent(ctx context.Context) (string, error) {
	return build(ctx, "aleph-guest", "./cmd/aleph-guest",
		"go.mod", "go.sum", "cmd/aleph-guest", "internal/compute/guest", "internal/compute/backend.go")
}

// Program builds the test program (./prog: an HTTP server whose routes
// probe its isolation) and returns the binary's path.
func Program(ctx context.Context) (string, error) {
	return build(ctx, "prog", "./internal/compute/sandbox/sandboxtest/prog",
		"go.mod", "internal/compute/sandbox/sandboxtest/prog")
}

// build compiles pkg statically, cached in goaleph/sandbox.
func build(ctx context.Context, name, pkg string, inputs ...string) (string, error) {
	return testbuild.Build(ctx, testbuild.Target{Name: name, Pkg: pkg, Inputs: inputs, CacheDir: "sandbox"})
}

// Runtime makes dir a minimal runtime root: the mount points the sandbox
// needs and an /etc with a passwd and group naming root and nobody. A
// static program needs nothing else; anything more (a shell, python3)
// comes from a volume or a real runtime image.
func Runtime(dir string) error {
	for _, d := range []string{"proc", "dev", "tmp", "run", "opt/code", "etc", "usr"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Code makes dir a program's code directory holding the test program as
// the executable "server", and returns that entrypoint's name.
func Code(ctx context.Context, dir string) (string, error) {
	prog, err := Program(ctx)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	src, err := os.Open(prog)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst, err := os.OpenFile(filepath.Join(dir, "server"), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return "", err
	}
	return "server", dst.Close()
}
