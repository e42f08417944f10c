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

// Build compiles the test program (./prog) to a WASI preview-1 module with
// the Go toolchain and returns the module's path. The output is kept under
// the user's cache directory (goaleph/wasmtest), named by a hash of the
// sources and the Go version, so it is built once per change.
//
// It needs the package's sources, so it works from a checkout (tests,
// `go run`), not from an installed binary.
func Build(ctx context.Context) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("wasmtest: cannot locate the sources")
	}
	dir := filepath.Dir(self)
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version())
	for _, pattern := range []string{"*.go", "prog/*.go"} {
		files, err := filepath.Glob(filepath.Join(dir, pattern))
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
	out := filepath.Join(outDir, "prog-"+hex.EncodeToString(h.Sum(nil))[:16]+".wasm")
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
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", tmp, "./prog")
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
