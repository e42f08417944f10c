package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
p2p:
  enabled: false
  listen: [/ip4/0.0.0.0/tcp/4025]
  bootstrap:
    - /ip4/10.0.0.1/tcp/4025/p2p/12D3KooWPeerA
  http_peers: [https://a.example.org]
  trusted_peers: [12D3KooWPeerB]
  announce_url: https://me.example.org
log_level: debug
`
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALEPH_DATABASE_URL", "")

	// The file alone.
	cmd := newNodeRunCmd()
	s := node.RoleConfig{LogLevel: "info"}
	if _, err := applyNodeSettings(cmd.Flags(), path, &s); err != nil {
		t.Fatal(err)
	}
	cfg := s.Node
	if cfg.DataDir != "/srv/aleph" || cfg.Listen != "0.0.0.0:4024" || cfg.DatabaseURL != "postgres://aleph@db/aleph" ||
		cfg.GracePeriod != 2*time.Hour || cfg.MaxRetries != 3 || s.LogLevel != "debug" {
		t.Errorf("from the file: %+v, log level %q", cfg, s.LogLevel)
	}
	p := s.P2P
	if !s.NoP2P || !slices.Equal(p.ListenAddrs, []string{"/ip4/0.0.0.0/tcp/4025"}) ||
		!slices.Equal(p.Bootstrap, []string{"/ip4/10.0.0.1/tcp/4025/p2p/12D3KooWPeerA"}) ||
		!slices.Equal(p.HTTPPeers, []string{"https://a.example.org"}) ||
		!slices.Equal(p.TrustedPeers, []string{"12D3KooWPeerB"}) || p.APIURL != "https://me.example.org" {
		t.Errorf("p2p from the file: no-p2p %v, %+v", s.NoP2P, p)
	}

	// The environment wins over the file, a flag over both.
	t.Setenv("ALEPH_DATABASE_URL", "sqlite:///env.db")
	cmd = newNodeRunCmd()
	if err := cmd.Flags().Parse([]string{"--listen", "127.0.0.1:9"}); err != nil {
		t.Fatal(err)
	}
	s = node.RoleConfig{}
	s.Node.Listen = "127.0.0.1:9"
	if _, err := applyNodeSettings(cmd.Flags(), path, &s); err != nil {
		t.Fatal(err)
	}
	if s.Node.DatabaseURL != "sqlite:///env.db" || s.Node.Listen != "127.0.0.1:9" {
		t.Errorf("precedence: url %q listen %q", s.Node.DatabaseURL, s.Node.Listen)
	}
	cmd = newNodeRunCmd()
	if err := cmd.Flags().Parse([]string{"--database-url", "sqlite:///flag.db"}); err != nil {
		t.Fatal(err)
	}
	s = node.RoleConfig{}
	s.Node.DatabaseURL = "sqlite:///flag.db"
	if _, err := applyNodeSettings(cmd.Flags(), path, &s); err != nil {
		t.Fatal(err)
	}
	if s.Node.DatabaseURL != "sqlite:///flag.db" {
		t.Errorf("flag should win: %q", s.Node.DatabaseURL)
	}
}

// TestNodeP2PSettings checks that each p2p flag, given through the real
// command line, wins over its key in the file, and the other keys still
// apply.
func TestNodeP2PSettings(t *testing.T) {
	t.Setenv("ALEPH_DATABASE_URL", "")
	path := filepath.Join(t.TempDir(), "node.yml")
	yml := `p2p:
  enabled: false
  listen: [/ip4/0.0.0.0/tcp/4025]
  bootstrap: [/ip4/10.0.0.1/tcp/4025/p2p/A]
  http_peers: [https://a.example.org]
  trusted_peers: [A]
  announce_url: https://file.example.org
`
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args  []string
		check func(s *node.RoleConfig) bool
	}{
		{nil, func(s *node.RoleConfig) bool { return s.NoP2P && s.P2P.APIURL == "https://file.example.org" }},
		{[]string{"--no-p2p=false"}, func(s *node.RoleConfig) bool { return !s.NoP2P }},
		{[]string{"--p2p-listen", "/ip4/127.0.0.1/tcp/1,/ip4/127.0.0.1/udp/1/quic-v1"}, func(s *node.RoleConfig) bool {
			return slices.Equal(s.P2P.ListenAddrs, []string{"/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/udp/1/quic-v1"}) &&
				slices.Equal(s.P2P.Bootstrap, []string{"/ip4/10.0.0.1/tcp/4025/p2p/A"})
		}},
		{[]string{"--bootstrap", "/ip4/10.0.0.2/tcp/1/p2p/B", "--bootstrap", "/ip4/10.0.0.3/tcp/1/p2p/C"}, func(s *node.RoleConfig) bool {
			return slices.Equal(s.P2P.Bootstrap, []string{"/ip4/10.0.0.2/tcp/1/p2p/B", "/ip4/10.0.0.3/tcp/1/p2p/C"})
		}},
		{[]string{"--http-peer", "http://b:4024"}, func(s *node.RoleConfig) bool {
			return slices.Equal(s.P2P.HTTPPeers, []string{"http://b:4024"})
		}},
		{[]string{"--trusted-peer", "B"}, func(s *node.RoleConfig) bool { return slices.Equal(s.P2P.TrustedPeers, []string{"B"}) }},
		{[]string{"--announce-url", "http://flag.example.org:4024"}, func(s *node.RoleConfig) bool {
			return s.P2P.APIURL == "http://flag.example.org:4024" && s.NoP2P
		}},
	} {
		got := new(node.RoleConfig)
		cmd := nodeRunCmd(got)
		if err := cmd.ParseFlags(c.args); err != nil {
			t.Fatal(err)
		}
		if _, err := applyNodeSettings(cmd.Flags(), path, got); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if !c.check(got) {
			t.Errorf("%v: no-p2p %v, %+v", c.args, got.NoP2P, got.P2P)
		}
	}

	// Without a file nor flags, p2p is on with p2p's defaults.
	s := new(node.RoleConfig)
	cmd := nodeRunCmd(s)
	if err := cmd.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := applyNodeSettings(cmd.Flags(), "", s); err != nil {
		t.Fatal(err)
	}
	if s.NoP2P || s.P2P.ListenAddrs != nil || s.P2P.Bootstrap != nil || s.P2P.APIURL != "" {
		t.Errorf("defaults: no-p2p %v, %+v", s.NoP2P, s.P2P)
	}
}

func TestAnnounceURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:4024":    "http://127.0.0.1:4024",
		"10.1.2.3:80":       "http://10.1.2.3:80",
		"[::1]:4024":        "http://[::1]:4024",
		"node.example:4024": "http://node.example:4024",
		"0.0.0.0:4024":      "",
		"[::]:4024":         "",
		":4024":             "",
		"127.0.0.1:0":       "",
		"garbage":           "",
	} {
		if got := announceURL(addr); got != want {
			t.Errorf("announceURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

func TestNodeSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ALEPH_DATABASE_URL", "")
	for name, yml := range map[string]string{
		"unknown key":      "databse:\n  url: sqlite:///x.db\n",
		"unknown p2p key":  "p2p:\n  bootstraps: [/ip4/1.2.3.4/tcp/1]\n",
		"bad url":          "database:\n  url: mysql://x/y\n",
		"bad announce url": "p2p:\n  announce_url: example.org:4024\n",
		"bad yaml":         "database: [\n",
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".yml")
		if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
			t.Fatal(err)
		}
		s := node.RoleConfig{LogLevel: "info"}
		if _, err := applyNodeSettings(newNodeRunCmd().Flags(), path, &s); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	s := node.RoleConfig{LogLevel: "info"}
	if _, err := applyNodeSettings(newNodeRunCmd().Flags(), filepath.Join(dir, "missing.yml"), &s); err == nil {
		t.Error("missing file: no error")
	}
}

// TestNodePrintConfig runs aleph node run --print-config with a setting
// from each source: it prints them and exits without starting the node.
func TestNodePrintConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.yml")
	yml := "data_dir: " + dir + "\nstorage:\n  gc_period: 2h\np2p:\n  enabled: false\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "")
	c := e.cmd("node", "run", "--config", path, "--listen", "127.0.0.1:9", "--print-config")
	c.Env = append(c.Env, "ALEPH_DATABASE_URL=postgres://aleph:hunter2@db/aleph", "ALEPH_MAX_RETRIES=")
	out, err := c.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	s := string(out)
	for _, re := range []string{
		`(?m)^data_dir +=  ?` + regexp.QuoteMeta(dir) + ` +\(file\)$`,
		`(?m)^storage\.gc_period += 2h0m0s +\(file\)$`,
		`(?m)^p2p\.enabled += false +\(file\)$`,
		`(?m)^database\.url += postgres://aleph:xxxxx@db/aleph +\(environment\)$`,
		`(?m)^api\.listen += 127\.0\.0\.1:9 +\(flag\)$`,
		`(?m)^pipeline\.max_retries += 10 +\(default\)$`,
		`(?m)^log_level += info +\(default\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(s) {
			t.Errorf("no line matching %s in:\n%s", re, s)
		}
	}
	if strings.Contains(s, "hunter2") {
		t.Errorf("password printed:\n%s", s)
	}
	if _, err := os.Stat(filepath.Join(dir, "node-secret.pkcs8.der")); !os.IsNotExist(err) {
		t.Errorf("--print-config started the node: %v", err)
	}
}

// TestNodeConfigTypo checks that a misspelt key fails at start, naming the
// key it resembles.
func TestNodeConfigTypo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.yml")
	if err := os.WriteFile(path, []byte("databse:\n  url: sqlite:///x.db\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	line := newEnv(t, "").fails("node", "run", "--config", path, "--no-p2p")
	if !strings.Contains(line, "databse") || !strings.Contains(line, "did you mean database?") || !strings.Contains(line, "line 1") {
		t.Errorf("error %q", line)
	}
}

// TestComputePrintConfig runs aleph compute run --print-config with a
// setting from each source, and checks a typo in its file.
func TestComputePrintConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "crn.yml")
	yml := "cache_dir: " + dir + "\nbackends:\n  sandbox: false\nallocations:\n  signers: [\"0x2937f62e5F81A88e921f883f8fE56ceCf4A4A44A\"]\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "")
	c := e.cmd("compute", "run", "--config", path, "--listen", "127.0.0.1:9", "--print-config")
	c.Env = append(c.Env, "ALEPH_CRN_DOMAIN=crn.example.org")
	out, err := c.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	s := string(out)
	for _, re := range []string{
		`(?m)^cache_dir += ` + regexp.QuoteMeta(dir) + ` +\(file\)$`,
		`(?m)^backends\.sandbox += false +\(file\)$`,
		`(?m)^allocations\.signers += 0x2937f62e5F81A88e921f883f8fE56ceCf4A4A44A +\(file\)$`,
		`(?m)^announce\.key_file += ` + regexp.QuoteMeta(filepath.Join(dir, "crn-key")) + ` +\(default\)$`,
		`(?m)^api\.domain += crn\.example\.org +\(environment\)$`,
		`(?m)^api\.listen += 127\.0\.0\.1:9 +\(flag\)$`,
		`(?m)^core_url += http://127\.0\.0\.1:4024 +\(default\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(s) {
			t.Errorf("no line matching %s in:\n%s", re, s)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "crn-key")); !os.IsNotExist(err) {
		t.Errorf("--print-config started the node: %v", err)
	}

	if err := os.WriteFile(path, []byte("core_ulr: http://x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	line := e.fails("compute", "run", "--config", path)
	if !strings.Contains(line, "did you mean core_url?") {
		t.Errorf("typo: %q", line)
	}
}
