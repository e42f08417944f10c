package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/store/backend"
)

// nodeFile is the node's configuration file (aleph node run --config). Every
// key is optional; a command-line flag wins over the file, and
// ALEPH_DATABASE_URL wins over database.url.
type nodeFile struct {
	DataDir string `yaml:"data_dir"`
	API     struct {
		Listen string `yaml:"listen"`
	} `yaml:"api"`
	Database struct {
		URL string `yaml:"url"`
	} `yaml:"database"`
	Storage struct {
		GracePeriod time.Duration `yaml:"grace_period"`
		GCPeriod    time.Duration `yaml:"gc_period"`
	} `yaml:"storage"`
	Pipeline struct {
		MaxRetries int `yaml:"max_retries"`
	} `yaml:"pipeline"`
	LogLevel string `yaml:"log_level"`
}

// readNodeFile reads a configuration file; unknown keys are errors, so a
// typo does not silently fall back to a default.
func readNodeFile(path string) (*nodeFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f nodeFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &f, nil
}

// applyNodeSettings fills cfg and logLevel from the file (when path is not
// empty) and the environment, leaving the flags the user set alone.
func applyNodeSettings(flags *pflag.FlagSet, path string, cfg *node.Config, logLevel *string) error {
	set := func(name string) bool { return flags.Changed(name) }
	if path != "" {
		f, err := readNodeFile(path)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if f.DataDir != "" && !set("data-dir") {
			cfg.DataDir = f.DataDir
		}
		if f.API.Listen != "" && !set("listen") {
			cfg.Listen = f.API.Listen
		}
		if f.Database.URL != "" && !set("database-url") {
			cfg.DatabaseURL = f.Database.URL
		}
		if f.Storage.GracePeriod != 0 && !set("grace-period") {
			cfg.GracePeriod = f.Storage.GracePeriod
		}
		if f.Storage.GCPeriod != 0 && !set("gc-period") {
			cfg.GCPeriod = f.Storage.GCPeriod
		}
		if f.Pipeline.MaxRetries != 0 && !set("max-retries") {
			cfg.MaxRetries = f.Pipeline.MaxRetries
		}
		if f.LogLevel != "" && !set("log-level") {
			*logLevel = f.LogLevel
		}
	}
	if v := os.Getenv("ALEPH_DATABASE_URL"); v != "" && !set("database-url") {
		cfg.DatabaseURL = v
	}
	if cfg.DatabaseURL != "" {
		if _, err := backend.Kind(cfg.DatabaseURL); err != nil {
			return err
		}
	}
	return nil
}
