package compute

import (
	"context"
	"log/slog"

	"github.com/goaleph/goaleph/internal/registry"
)

// BackendSettings is what a compute node gives the factories of its
// backends: the settings of every backend, each factory reading its own.
type BackendSettings struct {
	// CacheDir is the compute node's cache; a backend keeps its files in
	// a directory of its own under it.
	CacheDir string
	// Logger receives the backends' warnings.
	Logger *slog.Logger
	// SandboxAgent is the path of the guest agent aleph-guest; the sandbox
	// backend looks for it when empty.
	SandboxAgent string
	// SandboxAgentBuildDir turns the developer mode on: when the agent is
	// neither given nor found, it is built from this module's sources
	// into this directory.
	SandboxAgentBuildDir string
	// SandboxStateDir holds the sandboxes' control sockets (default the
	// temporary directory).
	SandboxStateDir string
	// RequireNetworkIsolation refuses internet programs when slirp4netns
	// is missing.
	RequireNetworkIsolation bool
}

// BackendFactory builds a backend from the node's settings. A backend
// that holds resources also implements Close(context.Context) error.
type BackendFactory func(ctx context.Context, s BackendSettings) (Backend, error)

var backends = registry.New[BackendFactory]("compute backend")

// RegisterBackend makes f the factory of the backend called name; the
// backends call it from init. It panics on an empty or duplicate name.
func RegisterBackend(name string, f BackendFactory) { backends.Register(name, f) }

// LookupBackend returns the factory of the backend called name, or an
// error naming the registered backends.
func LookupBackend(name string) (BackendFactory, error) { return backends.Lookup(name) }

// BackendNames returns the names of the registered backends, sorted.
func BackendNames() []string { return backends.Names() }
