//go:build !wasip1

package wasmtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
)

var buildMu sync.Mutex

// Build compiles the test program (./prog) to a WASI preview-1 command
// module with the Go toolchain and returns the module's path. The output is
// kept under the user's cache directory (goaleph/wasmtest), named by a hash
// of the sources and the Go version, so it is built once per change.
//
// It needs the package's sources, so it works from a checkout (tests,
// `go run`), not from an installed binary.
func Build(ctx context.Context) (string, error) { return build(ctx, "prog") }

// BuildReactor is Build for a WASI reactor: the test program built with
// -buildmode=c-shared and the wasmguest tag, serving Handler through the
// wasmguest package's export.
func BuildReactor(ctx context.Context) (string, error) {
	return build(ctx, "reactor", "-buildmode=c-shared", "-tags=wasmguest")
}

// BuildGuestCommand is Build with the wasmguest tag: a command serving
// Handler through wasmguest's CGI mode, the same handler as BuildReactor's.
func BuildGuestCommand(ctx context.Context) (string, error) {
	return build(ctx, "guestcmd", "-tags=wasmguest")
}

func build(ctx context.Context, name string, flags ...string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("wasmtest: cannot locate the sources")
	}
	dir := filepath.Dir(self)
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version(), flags)
	guest := filepath.Join(dir, "..", "..", "..", "..", "wasmguest") // the module's wasmguest package
	for _, pattern := range []string{"*.go", "prog/*.go", filepath.Join(guest, "*.go")} {
		if !filepath.IsAbs(pattern) {
			pattern = filepath.Join(dir, pattern)
		}
		files, err := filepath.Glob(pattern)
		if err != nil {
			return "", err
		}
		sort.Strings(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
			h.Write(b)
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	outDir := filepath.Join(cache, "goaleph", "wasmtest")
	out := filepath.Join(outDir, name+"-"+hex.EncodeToString(h.Sum(nil))[:16]+".wasm")
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
	args := append(append([]string{"build", "-trimpath"}, flags...), "-o", tmp, "./prog")
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("wasmtest: go build: %w\n%s", err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return out, nil
}
