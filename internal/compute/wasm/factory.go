package wasm

import (
	"context"
	"path/filepath"

	"github.com/goaleph/goaleph/internal/compute"
)

// Name is the backend's name in configuration and metrics.
const Name = "wasm"

func init() {
	compute.RegisterBackend(Name, func(_ context.Context, s compute.BackendSettings) (compute.Backend, error) {
		return New(Config{CacheDir: filepath.Join(s.CacheDir, Name)})
	})
}
