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
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

var buildMu sync.Mutex

// moduleRoot is the checkout's root, found from this file's path.
func moduleRoot() (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("sandboxtest: cannot locate the sources")
	}
	return filepath.Join(filepath.Dir(self), "..", "..", "..", ".."), nil
}

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

// build compiles pkg statically into the cache, named by a hash of the
// Go version and of the sources under inputs (paths relative to the
// module root, test files and testdata left out), so that it is built
// once per change.
func build(ctx context.Context, name, pkg string, inputs ...string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version(), pkg)
	for _, in := range inputs {
		var files []string
		err := filepath.WalkDir(filepath.Join(root, in), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if !d.IsDir() && !strings.HasSuffix(path, "_test.go") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
		sort.Strings(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return "", err
			}
			rel, _ := filepath.Rel(root, f)
			fmt.Fprintf(h, "%s %d\n", rel, len(b))
			h.Write(b)
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	outDir := filepath.Join(cache, "goaleph", "sandbox")
	out := filepath.Join(outDir, name+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", tmp, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("sandboxtest: go build %s: %w\n%s", pkg, err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return out, nil
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
