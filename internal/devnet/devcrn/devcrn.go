// Package devcrn is the compute node of a devnet: importing it lets
// devnet.Config.Compute run one. It is a package of its own because the
// compute node's tests run on a devnet, so the devnet package cannot
// import the compute node.
//
// The node runs WASM programs on the wasm backend and, when bubblewrap
// (bwrap) and the guest agent are available, programs on squashfs
// runtimes on the sandbox backend. The agent is aleph-guest next to the
// running executable or on PATH; failing that, in a checkout of this
// module with the Go toolchain (developer mode: `go run ./cmd/aleph
// devnet`), it is built into the compute node's directory. Otherwise the
// node runs WASM programs only, and says so in the log.
package devcrn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/compute/sandbox"
	"github.com/goaleph/goaleph/internal/compute/wasm"
	"github.com/goaleph/goaleph/internal/devnet"
	"github.com/goaleph/goaleph/internal/node"
)

func init() { devnet.RegisterCompute(New) }

// modulePath is this module's path, as go.mod names it.
const modulePath = "github.com/goaleph/goaleph"

// server is a crn.Server that also closes the wasm backend when done.
type server struct {
	*crn.Server
	wasm *wasm.Backend
}

func (s *server) Run(ctx context.Context, ln net.Listener) error {
	err := s.Server.Run(ctx, ln)
	s.wasm.Close(context.WithoutCancel(ctx))
	return err
}

// New makes the compute node of a devnet: its cache in c.DataDir/cache,
// reading from c.CoreURL, with the wasm backend and, when possible, the
// sandbox backend.
func New(ctx context.Context, c devnet.ComputeConfig) (devnet.ComputeServer, error) {
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return nil, err
	}
	cfg := crn.Config{CoreURL: c.CoreURL, CacheDir: filepath.Join(c.DataDir, "cache"), Logger: c.Logger,
		KeyFile: filepath.Join(c.DataDir, "crn-key"), // announces its executions (docs/design/0007)
		Version: node.Version, Backends: map[string]compute.Backend{}}
	wb, err := wasm.New(wasm.Config{CacheDir: filepath.Join(cfg.CacheDir, "wasm")})
	if err != nil {
		return nil, err
	}
	cfg.Backends[wb.Name()] = wb
	if sb, err := newSandbox(ctx, c); err != nil {
		c.Logger.Warn("devnet: the compute node runs WASM programs only: "+err.Error(), "node", "crn")
	} else {
		cfg.Backends[sb.Name()], cfg.DefaultBackend = sb, sb.Name()
	}
	s, err := crn.New(cfg)
	if err != nil {
		wb.Close(context.Background())
		return nil, err
	}
	return &server{Server: s, wasm: wb}, nil
}

// newSandbox returns the sandbox backend, finding or building the agent.
func newSandbox(ctx context.Context, c devnet.ComputeConfig) (*sandbox.Backend, error) {
	if _, err := exec.LookPath("bwrap"); err != nil {
		return nil, fmt.Errorf("no sandbox backend: %w (install bubblewrap)", sandbox.ErrNoBwrap)
	}
	agent, err := Agent(ctx, c.DataDir, c.Logger)
	if err != nil {
		return nil, fmt.Errorf("no sandbox backend: %w", err)
	}
	return sandbox.New(sandbox.Config{Agent: agent})
}

// Agent returns the guest agent aleph-guest: next to the running
// executable, else on PATH, else built from the module's sources into dir
// when they and the Go toolchain are at hand.
func Agent(ctx context.Context, dir string, log interface{ Warn(string, ...any) }) (string, error) {
	if exe, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(exe), "aleph-guest"); isExecutable(p) {
			return p, nil
		}
	}
	if p, err := exec.LookPath("aleph-guest"); err == nil {
		return p, nil
	}
	src := SourceDir()
	if src == "" {
		return "", errors.New("the guest agent aleph-guest is neither next to this executable nor on PATH " +
			"(build it with `CGO_ENABLED=0 go build ./cmd/aleph-guest` in a checkout, or `make build`)")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("the guest agent aleph-guest is neither next to this executable nor on PATH, " +
			"and the Go toolchain to build it is not on PATH")
	}
	out := filepath.Join(dir, "aleph-guest")
	log.Warn("devnet: developer mode: building the guest agent from the sources", "src", src, "out", out)
	cmd := exec.CommandContext(ctx, goBin, "build", "-trimpath", "-o", out, "./cmd/aleph-guest")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the guest agent: %w\n%s", err, b)
	}
	return out, nil
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
