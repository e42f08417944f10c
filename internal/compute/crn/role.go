package crn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/microvm"
	"github.com/goaleph/goaleph/internal/compute/sandbox"
	"github.com/goaleph/goaleph/internal/compute/wasm"
	"github.com/goaleph/goaleph/internal/lifecycle"
)

// RoleConfig is the configuration of the compute node role (aleph compute
// run, the compute node of a devnet, bench/coldstart): the server and the
// backends it runs programs on. Its settings table (settings.go) describes
// every key once.
type RoleConfig struct {
	CRN Config
	// Listen is the address of the HTTP server.
	Listen string
	// NoWasm and NoSandbox turn the backends off; MicroVM turns the micro
	// VM backend on, as the default backend of programs and the backend of
	// instances (CRN.Instances).
	NoWasm, NoSandbox, MicroVM bool
	// Instances turns the micro VM backend on for INSTANCE messages only:
	// programs stay on the other backends.
	Instances bool
	// InstancesOptional runs no instances, with a warning, when the micro
	// VM backend cannot be built for Instances (no QEMU, no kernel),
	// instead of failing (the devnet's compute node).
	InstancesOptional bool
	// SandboxAgent is the path of the static guest agent aleph-guest
	// (default: next to the executable, else on PATH).
	SandboxAgent string
	// RequireNetworkIsolation refuses internet programs when slirp4netns
	// is missing.
	RequireNetworkIsolation bool
	// NoAnnounce turns the executions announcements off.
	NoAnnounce bool
	// PersistentFrom is the persistent mode as given on the command line,
	// validated into CRN.Persistent by the CLI (empty: CRN.Persistent).
	PersistentFrom string
	// LogLevel is debug, info, warn or error.
	LogLevel string

	// SandboxOptional runs WASM programs only, with a warning, when the
	// sandbox backend cannot be built (no bubblewrap, no agent), instead of
	// failing (the devnet's compute node).
	SandboxOptional bool
	// SandboxAgentBuildDir turns the developer mode on: an agent neither
	// given nor found is built from this module's sources into it.
	SandboxAgentBuildDir string
	// SandboxStateDir holds the sandboxes' control sockets (default the
	// temporary directory).
	SandboxStateDir string
	// Listener, when set, is served instead of listening on Listen.
	Listener net.Listener
}

// Role is a compute node with its backends and listener, built by NewRole:
// it satisfies lifecycle.Service, lifecycle.Readier and io.Closer. Run runs
// a lifecycle.Group of the backends, then the server: the server stops
// before the backends are closed.
type Role struct {
	srv      *Server
	ln       net.Listener
	backends []compute.Backend
	group    lifecycle.Group
	ready    chan struct{}
	once     sync.Once
}

var _ lifecycle.Role = (*Role)(nil)

// NewRole builds the backends enabled by rc (wasm unless NoWasm, sandbox
// unless NoSandbox; the sandbox is the default backend when present), the
// server and its listener. Run serves it; Close releases it when it is
// never run.
func NewRole(ctx context.Context, rc RoleConfig) (*Role, error) {
	cfg := rc.CRN
	if rc.NoAnnounce {
		cfg.KeyFile = ""
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	settings := compute.BackendSettings{CacheDir: cfg.CacheDir, Logger: log, SandboxAgent: rc.SandboxAgent,
		SandboxAgentBuildDir: rc.SandboxAgentBuildDir, SandboxStateDir: rc.SandboxStateDir,
		RequireNetworkIsolation: rc.RequireNetworkIsolation}
	r := &Role{ready: make(chan struct{})}
	if cfg.Backends == nil {
		cfg.Backends = map[string]compute.Backend{}
	}
	for _, b := range []struct {
		name string
		off  bool
	}{{wasm.Name, rc.NoWasm}, {sandbox.Name, rc.NoSandbox}, {microvm.Name, !rc.MicroVM && !rc.Instances}} {
		if b.off {
			continue
		}
		be, err := buildBackend(ctx, b.name, settings)
		if err != nil {
			if b.name == sandbox.Name && rc.SandboxOptional {
				log.Warn("the compute node runs WASM programs only: "+err.Error(), "node", "crn")
				continue
			}
			if b.name == microvm.Name && !rc.MicroVM && rc.InstancesOptional {
				log.Warn("the compute node runs no instances: "+err.Error(), "node", "crn")
				continue
			}
			r.closeBackends(ctx)
			if b.name == sandbox.Name {
				err = fmt.Errorf("%w (run WASM programs only with --no-sandbox)", err)
			}
			return nil, err
		}
		r.backends = append(r.backends, be)
		if mb, ok := be.(*microvm.Backend); ok && cfg.Instances == nil {
			cfg.Instances = mb
		}
		if b.name == microvm.Name && !rc.MicroVM {
			continue // instances only: programs keep their backends
		}
		cfg.Backends[be.Name()] = be
		if be.Name() != wasm.Name {
			cfg.DefaultBackend = be.Name()
		}
	}
	srv, err := New(cfg)
	if err != nil {
		r.closeBackends(ctx)
		return nil, err
	}
	r.srv = srv
	if r.ln = rc.Listener; r.ln == nil {
		if r.ln, err = net.Listen("tcp", rc.Listen); err != nil {
			r.Close()
			return nil, err
		}
	}
	r.group.Add("backends", backendsService{r})
	r.group.Add("server", serverService{r})
	return r, nil
}

// backendsService holds the backends while the role runs and closes them
// when it stops, after the server.
type backendsService struct{ r *Role }

func (b backendsService) Run(ctx context.Context) error {
	<-ctx.Done()
	return b.r.closeBackends(ctx)
}

func (b backendsService) Close() error { return b.r.closeBackends(context.Background()) }

// serverService serves the role's listener (see Server.Run).
type serverService struct{ r *Role }

func (s serverService) Run(ctx context.Context) error {
	s.r.once.Do(func() { close(s.r.ready) }) // the listener is bound: connections queue
	return s.r.srv.Run(ctx, s.r.ln)
}

func (s serverService) Ready() <-chan struct{} { return s.r.ready }

func (s serverService) Close() error {
	s.r.srv.Close()
	return s.r.ln.Close()
}

func buildBackend(ctx context.Context, name string, s compute.BackendSettings) (compute.Backend, error) {
	f, err := compute.LookupBackend(name)
	if err != nil {
		return nil, err
	}
	b, err := f(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("%s backend: %w", name, err)
	}
	return b, nil
}

func (r *Role) closeBackends(ctx context.Context) error {
	var errs []error
	for _, b := range r.backends {
		if c, ok := b.(interface{ Close(context.Context) error }); ok {
			errs = append(errs, c.Close(context.WithoutCancel(ctx)))
		}
	}
	r.backends = nil
	return errors.Join(errs...)
}

// Server returns the compute node's server.
func (r *Role) Server() *Server { return r.srv }

// Addr returns the address the node listens on.
func (r *Role) Addr() net.Addr { return r.ln.Addr() }

// URL returns the node's base URL, http://host:port.
func (r *Role) URL() string { return "http://" + r.ln.Addr().String() }

// Ready is closed once the node serves.
func (r *Role) Ready() <-chan struct{} { return r.ready }

// Run serves the node until ctx ends (see Server.Run), then closes the
// backends. Its error is prefixed with "server: " or "backends: ".
func (r *Role) Run(ctx context.Context) error { return r.group.Run(ctx) }

// Close releases a node that is never run: its executions, listener and
// backends.
func (r *Role) Close() error {
	if r.srv != nil {
		r.srv.Close()
	}
	var err error
	if r.ln != nil {
		err = r.ln.Close()
	}
	return errors.Join(err, r.closeBackends(context.Background()))
}
