package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/p2p"
	"github.com/goaleph/goaleph/internal/store/storeurl"
)

// runSettings are the settings of aleph node run, filled by its flags and
// then by applyNodeSettings.
type runSettings struct {
	node     node.Config
	p2p      p2p.Config // DataDir, Version and Logger are set at start
	noP2P    bool
	logLevel string
}

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
	P2P struct {
		Enabled      *bool    `yaml:"enabled"` // absent: enabled
		Listen       []string `yaml:"listen"`
		Bootstrap    []string `yaml:"bootstrap"`
		HTTPPeers    []string `yaml:"http_peers"`
		TrustedPeers []string `yaml:"trusted_peers"`
		AnnounceURL  string   `yaml:"announce_url"`
	} `yaml:"p2p"`
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

// applyNodeSettings fills s from the file (when path is not empty) and the
// environment, leaving the flags the user set alone.
func applyNodeSettings(flags *pflag.FlagSet, path string, s *runSettings) error {
	set := func(name string) bool { return flags.Changed(name) }
	cfg := &s.node
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
			s.logLevel = f.LogLevel
		}
		p := f.P2P
		if p.Enabled != nil && !set("no-p2p") {
			s.noP2P = !*p.Enabled
		}
		for _, l := range []struct {
			flag string
			from []string
			to   *[]string
		}{
			{"p2p-listen", p.Listen, &s.p2p.ListenAddrs},
			{"bootstrap", p.Bootstrap, &s.p2p.Bootstrap},
			{"http-peer", p.HTTPPeers, &s.p2p.HTTPPeers},
			{"trusted-peer", p.TrustedPeers, &s.p2p.TrustedPeers},
		} {
			if len(l.from) > 0 && !set(l.flag) {
				*l.to = l.from
			}
		}
		if p.AnnounceURL != "" && !set("announce-url") {
			s.p2p.APIURL = p.AnnounceURL
		}
	}
	if v := os.Getenv("ALEPH_DATABASE_URL"); v != "" && !set("database-url") {
		cfg.DatabaseURL = v
	}
	if cfg.DatabaseURL != "" {
		if _, err := storeurl.Kind(cfg.DatabaseURL); err != nil {
			return err
		}
	}
	if u := s.p2p.APIURL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("announce URL %q: not an http(s) URL", u)
		}
	}
	return nil
}

// announceURL is the API URL announced to peers when none is configured:
// the API's address, unless it listens on all interfaces (0.0.0.0, ::),
// where no one address is the public one.
func announceURL(apiAddr string) string {
	host, port, err := net.SplitHostPort(apiAddr)
	if err != nil || host == "" || port == "0" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return ""
	}
	return "http://" + net.JoinHostPort(host, port)
}
