// Package testbuild builds Go programs of this module for tests and
// benchmarks (the guest agent, test programs, WASI modules) once per change
// of their sources: the output is kept under the user's cache directory,
// named by a hash of the Go version, the build settings and the sources
// the target names.
//
// The builds need the module's sources, so they work from a checkout
// (tests, `go run`), not from an installed binary.
package testbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
)

// Target is a program to build.
type Target struct {
	// Name prefixes the output's file name; Ext ends it (".wasm").
	Name, Ext string
	// Pkg is the package to build, relative to the module root
	// ("./cmd/aleph-guest").
	Pkg string
	// Inputs are the files and directories (relative to the module root;
	// test files and testdata left out) whose content the build depends on.
	Inputs []string
	// Env adds to the build's environment (CGO_ENABLED=0 always).
	Env []string
	// Flags are more `go build` flags.
	Flags []string
	// CacheDir names the cache's subdirectory of <user cache>/goaleph.
	CacheDir string
}

var mu sync.Mutex

// ModuleRoot is the checkout's root, found from this file's path.
func ModuleRoot() (string, error) {
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("testbuild: cannot locate the sources")
	}
	return filepath.Join(filepath.Dir(self), "..", ".."), nil
}

// Build builds t, or finds it built, and returns the output's path.
func Build(ctx context.Context, t Target) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version(), t.Pkg, t.Env, t.Flags)
	for _, in := range t.Inputs {
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
	outDir := filepath.Join(cache, "goaleph", t.CacheDir)
	out := filepath.Join(outDir, t.Name+"-"+hex.EncodeToString(h.Sum(nil))[:16]+t.Ext)
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
	args := append(append([]string{"build", "-trimpath"}, t.Flags...), "-o", tmp, t.Pkg)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), t.Env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("testbuild: go build %s: %w\n%s", t.Pkg, err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return out, nil
}
