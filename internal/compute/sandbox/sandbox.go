package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
)

// Name is the backend's name in configuration.
const Name = "sandbox"

// Config configures the backend. The zero value of each field but Agent
// takes the documented default.
type Config struct {
	// Agent is the path of the guest agent, a static build of
	// cmd/aleph-guest (CGO_ENABLED=0 go build ./cmd/aleph-guest). Required.
	Agent string
	// Bwrap is the bubblewrap command; default "bwrap" on PATH.
	Bwrap string
	// Slirp4netns is the slirp4netns command, which gives a program with
	// internet a network namespace of its own behind a user-mode NAT;
	// default "slirp4netns" on PATH. When it is missing, New logs a
	// warning and programs with internet share the host's network
	// namespace (and its loopback), unless RequireNetworkIsolation.
	Slirp4netns string
	// RequireNetworkIsolation makes Prepare refuse a program with
	// internet (ErrNoNetworkIsolation) when slirp4netns is missing,
	// rather than run it in the host's network namespace. Default false,
	// so that a node without slirp4netns still runs such programs; a
	// production node should set it.
	RequireNetworkIsolation bool
	// Logger receives the backend's warnings; default slog.Default().
	Logger *slog.Logger
	// StateDir holds one directory per running instance (its control
	// socket); default os.TempDir().
	StateDir string
	// CPUSeconds is the RLIMIT_CPU of each process of a sandbox, a
	// backstop against a program spinning for ever: its whole life's CPU
	// time, not per request. Default 3600; negative for none.
	CPUSeconds int
	// Nice is the scheduling niceness of sandboxes; default 10, negative
	// values are taken as 0.
	Nice int
	// DataOverheadMiB is added to a program's memory to make its
	// RLIMIT_DATA, which counts writable mappings whether touched or not:
	// a Go program maps about 70 MiB it never touches before main (the
	// heap arena index), a Python one about 10 MiB. Default 64.
	DataOverheadMiB int
	// TmpMiB bounds each of the sandbox's tmpfs: /tmp, /run and the one
	// holding the program's writes to the rest of its root (the
	// overlay's upper layer); default the program's memory.
	TmpMiB int
	// StopTimeout bounds a Stop: the agent's halt (it gives the program 5
	// s after SIGTERM), then the sandbox is killed; default 10 s.
	StopTimeout time.Duration
	// LogLines is how many of a program's output lines an instance keeps;
	// default 1000.
	LogLines int
}

// Backend runs programs in bubblewrap sandboxes. It holds no state of its
// own beyond its configuration: each Instance owns its sandbox.
type Backend struct {
	cfg   Config
	bwrap string
	slirp string // slirp4netns's path; "" when missing
}

var _ compute.Backend = (*Backend)(nil)

// ErrNoBwrap is returned by New when bubblewrap is not installed.
var ErrNoBwrap = errors.New("bubblewrap (bwrap) not found")

// New checks the configuration and returns a backend.
func New(cfg Config) (*Backend, error) {
	if cfg.Bwrap == "" {
		cfg.Bwrap = "bwrap"
	}
	bwrap, err := exec.LookPath(cfg.Bwrap)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoBwrap, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Slirp4netns == "" {
		cfg.Slirp4netns = "slirp4netns"
	}
	slirp, err := exec.LookPath(cfg.Slirp4netns)
	if err != nil {
		if cfg.RequireNetworkIsolation {
			cfg.Logger.Warn("sandbox: slirp4netns not found: programs with internet will be refused (install slirp4netns)", "err", err)
		} else {
			cfg.Logger.Warn("sandbox: slirp4netns not found: programs with internet will share the host's network namespace "+
				"and reach every service on its loopback (install slirp4netns, or set RequireNetworkIsolation to refuse them)", "err", err)
		}
		slirp = ""
	}
	if cfg.Agent == "" {
		return nil, errors.New("sandbox: no guest agent configured")
	}
	if st, err := os.Stat(cfg.Agent); err != nil {
		return nil, fmt.Errorf("sandbox: guest agent: %w", err)
	} else if !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("sandbox: guest agent %s is not an executable file", cfg.Agent)
	}
	if cfg.StateDir == "" {
		cfg.StateDir = os.TempDir()
	}
	if cfg.CPUSeconds == 0 {
		cfg.CPUSeconds = 3600
	}
	if cfg.DataOverheadMiB == 0 {
		cfg.DataOverheadMiB = 64
	}
	cfg.DataOverheadMiB = max(cfg.DataOverheadMiB, 0)
	if cfg.Nice == 0 {
		cfg.Nice = 10
	}
	cfg.Nice = max(cfg.Nice, 0)
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.LogLines <= 0 {
		cfg.LogLines = 1000
	}
	return &Backend{cfg: cfg, bwrap: bwrap, slirp: slirp}, nil
}

// Name returns "sandbox".
func (b *Backend) Name() string { return Name }

// Prepare checks spec: the runtime is a directory with the mount points the
// sandbox needs, the code a directory holding the entrypoint (an executable
// file, or an ASGI "module:app"), each volume's source and mount point
// exist, and a program with internet can have its network namespace (see
// Config.RequireNetworkIsolation). Nothing is started.
func (b *Backend) Prepare(ctx context.Context, spec compute.Spec) (compute.Instance, error) {
	if err := check(&spec); err != nil {
		return nil, err
	}
	if spec.Internet && b.slirp == "" && b.cfg.RequireNetworkIsolation {
		return nil, ErrNoNetworkIsolation
	}
	return newInstance(b, spec), nil
}

// mountPoints must exist in a runtime: its root is read-only, so the
// sandbox cannot create them.
var mountPoints = []string{"proc", "dev", "tmp", "run", "opt/code"}

func check(spec *compute.Spec) error {
	if spec.Runtime == "" {
		return errors.New("sandbox: program has no runtime")
	}
	if err := isDir(spec.Runtime, "runtime"); err != nil {
		return err
	}
	for _, m := range mountPoints {
		if st, err := os.Stat(filepath.Join(spec.Runtime, m)); err != nil || !st.IsDir() {
			return invalid("the runtime has no directory /%s to mount the sandbox's on", m)
		}
	}
	if err := isDir(spec.Code, "code"); err != nil {
		return err
	}
	switch spec.Interface {
	case compute.Executable:
		if !filepath.IsLocal(spec.Entrypoint) {
			return invalid("entrypoint %q is not a path inside the code", spec.Entrypoint)
		}
		// The code is mounted read-only: the agent cannot chmod it.
		st, err := os.Stat(filepath.Join(spec.Code, spec.Entrypoint))
		if err != nil || !st.Mode().IsRegular() || st.Mode()&0o111 == 0 {
			return invalid("entrypoint %q: the code has no such executable file", spec.Entrypoint)
		}
	case compute.ASGI:
		mod, app, ok := strings.Cut(spec.Entrypoint, ":")
		if !ok || mod == "" || app == "" {
			return invalid("ASGI entrypoint %q is not module:app", spec.Entrypoint)
		}
		if !hasModule(spec, mod) {
			return invalid("entrypoint %q: the code has no Python module %s (a .py file or a package)", spec.Entrypoint, mod)
		}
	default:
		return invalid("interface %q not supported", spec.Interface)
	}
	for _, v := range spec.Volumes {
		if !path.IsAbs(v.Mount) || path.Clean(v.Mount) != v.Mount || v.Mount == "/" {
			return invalid("volume mount %q is not a clean absolute path", v.Mount)
		}
		for _, reserved := range []string{"/proc", "/dev", "/run", "/opt/code", overlayDir} {
			if v.Mount == reserved || strings.HasPrefix(v.Mount, reserved+"/") {
				return invalid("volume mount %q is reserved", v.Mount)
			}
		}
		if _, err := os.Stat(v.Source); err != nil {
			return fmt.Errorf("sandbox: volume %s: %w", v.Mount, err)
		}
		if !strings.HasPrefix(v.Mount, "/tmp/") {
			if _, err := os.Stat(filepath.Join(spec.Runtime, v.Mount)); err != nil {
				return invalid("volume mount point %s missing from the runtime", v.Mount)
			}
		}
	}
	if spec.MemoryMiB <= 0 {
		return invalid("memory %d MiB", spec.MemoryMiB)
	}
	return nil
}

// invalid is an error of the program's own, wrapping compute.ErrInvalidSpec.
func invalid(format string, args ...any) error {
	return fmt.Errorf("sandbox: %s: %w", fmt.Sprintf(format, args...), compute.ErrInvalidSpec)
}

// hasModule reports whether the Python module mod ("pkg.sub") is a file
// or package of the code, or of a volume mounted at /opt/packages (on the
// launcher's path too).
func hasModule(spec *compute.Spec, mod string) bool {
	rel := filepath.FromSlash(strings.ReplaceAll(mod, ".", "/"))
	if !filepath.IsLocal(rel) {
		return false
	}
	dirs := []string{spec.Code}
	for _, v := range spec.Volumes {
		if v.Mount == "/opt/packages" {
			dirs = append(dirs, v.Source)
		}
	}
	for _, d := range dirs {
		for _, f := range []string{rel + ".py", filepath.Join(rel, "__init__.py")} {
			if st, err := os.Stat(filepath.Join(d, f)); err == nil && st.Mode().IsRegular() {
				return true
			}
		}
	}
	return false
}

func isDir(p, what string) error {
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("sandbox: %s: %w", what, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("sandbox: %s %s is not a directory", what, p)
	}
	return nil
}
