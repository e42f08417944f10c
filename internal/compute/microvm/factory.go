package microvm

import (
	"context"
	"path/filepath"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/sandbox"
)

func init() { compute.RegisterBackend(Name, newFromSettings) }

// newFromSettings is the backend's factory: the agent is the sandbox's
// (s.SandboxAgent, else found or built as the sandbox finds it), the images
// and snapshots' files under the node's cache.
func newFromSettings(ctx context.Context, s compute.BackendSettings) (compute.Backend, error) {
	agent := s.SandboxAgent
	if agent == "" {
		var err error
		if agent, err = sandbox.FindAgent(ctx, s.SandboxAgentBuildDir, s.Logger); err != nil {
			return nil, err
		}
	}
	cfg := Config{Agent: agent, StateDir: s.SandboxStateDir, Logger: s.Logger}
	if s.CacheDir != "" {
		cfg.CacheDir = filepath.Join(s.CacheDir, "microvm")
	}
	return New(ctx, cfg)
}
