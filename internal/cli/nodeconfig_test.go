package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/node"
)

func TestNodeSettings(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.yml")
	yml := `data_dir: /srv/aleph
api:
  listen: 0.0.0.0:4024
database:
  url: postgres://aleph@db/aleph
storage:
  grace_period: 2h
pipeline:
  max_retries: 3
log_level: debug
`
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALEPH_DATABASE_URL", "")

	// The file alone.
	cmd := newNodeRunCmd()
	var cfg node.Config
	level := "info"
	if err := applyNodeSettings(cmd.Flags(), path, &cfg, &level); err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/srv/aleph" || cfg.Listen != "0.0.0.0:4024" || cfg.DatabaseURL != "postgres://aleph@db/aleph" ||
		cfg.GracePeriod != 2*time.Hour || cfg.MaxRetries != 3 || level != "debug" {
		t.Errorf("from the file: %+v, log level %q", cfg, level)
	}

	// The environment wins over the file, a flag over both.
	t.Setenv("ALEPH_DATABASE_URL", "sqlite:///env.db")
	cmd = newNodeRunCmd()
	if err := cmd.Flags().Parse([]string{"--listen", "127.0.0.1:9"}); err != nil {
		t.Fatal(err)
	}
	cfg = node.Config{Listen: "127.0.0.1:9"}
	if err := applyNodeSettings(cmd.Flags(), path, &cfg, &level); err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL != "sqlite:///env.db" || cfg.Listen != "127.0.0.1:9" {
		t.Errorf("precedence: url %q listen %q", cfg.DatabaseURL, cfg.Listen)
	}
	cmd = newNodeRunCmd()
	if err := cmd.Flags().Parse([]string{"--database-url", "sqlite:///flag.db"}); err != nil {
		t.Fatal(err)
	}
	cfg = node.Config{DatabaseURL: "sqlite:///flag.db"}
	if err := applyNodeSettings(cmd.Flags(), path, &cfg, &level); err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL != "sqlite:///flag.db" {
		t.Errorf("flag should win: %q", cfg.DatabaseURL)
	}
}

func TestNodeSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ALEPH_DATABASE_URL", "")
	for name, yml := range map[string]string{
		"unknown key": "databse:\n  url: sqlite:///x.db\n",
		"bad url":     "database:\n  url: mysql://x/y\n",
		"bad yaml":    "database: [\n",
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yml")
		if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
		var cfg node.Config
		level := "info"
		if err := applyNodeSettings(newNodeRunCmd().Flags(), path, &cfg, &level); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	var cfg node.Config
	level := "info"
	if err := applyNodeSettings(newNodeRunCmd().Flags(), filepath.Join(dir, "missing.yml"), &cfg, &level); err == nil {
		t.Error("missing file: no error")
	}
}
