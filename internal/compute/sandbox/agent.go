package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/goaleph/goaleph/internal/compute"
)

func init() { compute.RegisterBackend(Name, newFromSettings) }

// newFromSettings is the sandbox backend's factory: the agent is
// s.SandboxAgent, else found by FindAgent.
func newFromSettings(ctx context.Context, s compute.BackendSettings) (compute.Backend, error) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		return nil, fmt.Errorf("%w (install bubblewrap)", ErrNoBwrap)
	}
	agent := s.SandboxAgent
	if agent == "" {
		var err error
		if agent, err = FindAgent(ctx, s.SandboxAgentBuildDir, s.Logger); err != nil {
			return nil, err
		}
	}
	b, err := New(Config{Agent: agent, RequireNetworkIsolation: s.RequireNetworkIsolation, Logger: s.Logger,
		StateDir: s.SandboxStateDir})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// modulePath is this module's path, as go.mod names it.
const modulePath = "github.com/goaleph/goaleph"

// FindAgent returns the guest agent aleph-guest: next to the running
// executable, else on PATH, else (developer mode, when buildDir is set)
// built from the module's sources into buildDir when they and the Go
// toolchain are at hand.
func FindAgent(ctx context.Context, buildDir string, log *slog.Logger) (string, error) {
	if p := FindProgram("aleph-guest"); p != "" {
		return p, nil
	}
	const missing = "the guest agent aleph-guest is neither next to this executable nor on PATH"
	src := SourceDir()
	if buildDir == "" || src == "" {
		return "", errors.New(missing + " (build it with `CGO_ENABLED=0 go build ./cmd/aleph-guest` in a checkout, or `make build`)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New(missing + ", and the Go toolchain to build it is not on PATH")
	}
	if err := os.MkdirAll(buildDir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(buildDir, "aleph-guest")
	if log == nil {
		log = slog.Default()
	}
	log.Warn("developer mode: building the guest agent from the sources", "src", src, "out", out)
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", out, "./cmd/aleph-guest")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the guest agent: %w\n%s", err, b)
	}
	return out, nil
}

// FindProgram returns the path of the program name next to the running
// executable, else on PATH, else "".
func FindProgram(name string) string {
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), name); isExecutable(p) {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

// SourceDir returns the root of a checkout of this module: the working
// directory or one of its parents, else where this package was compiled
// from; "" when neither holds the module's go.mod.
func SourceDir() string {
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if isModuleRoot(d) {
				return d
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	if _, self, _, ok := runtime.Caller(0); ok && filepath.IsAbs(self) {
		if d := filepath.Join(filepath.Dir(self), "..", "..", ".."); isModuleRoot(d) {
			return filepath.Clean(d)
		}
	}
	return ""
}

func isModuleRoot(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	first, _, _ := bytes.Cut(b, []byte("\n"))
	return strings.TrimSpace(string(first)) == "module "+modulePath
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}
