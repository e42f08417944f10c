package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/goaleph/goaleph/message"
)

// Defaults of the client commands, overridden by the environment and flags.
const (
	defaultAPIURL  = "http://127.0.0.1:4024"
	defaultChannel = "TEST"
)

// errNoAccount is returned by commands that sign when no key is stored.
var errNoAccount = errors.New("no account: run aleph account create")

// configDir returns the directory of the client's configuration and keys:
// $ALEPH_CONFIG_HOME, else $XDG_CONFIG_HOME/aleph, else ~/.config/aleph.
func configDir() (string, error) {
	if d := os.Getenv("ALEPH_CONFIG_HOME"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "aleph"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the configuration directory: %w", err)
	}
	return filepath.Join(home, ".config", "aleph"), nil
}

// accountEntry describes one stored key in config.json.
type accountEntry struct {
	Chain   string `json:"chain"`
	Address string `json:"address"`
	// Path is the key file, relative to the configuration directory.
	Path string `json:"path"`
}

// config is config.json: the stored accounts and the active one.
type config struct {
	Active   string                   `json:"active"`
	Accounts map[string]*accountEntry `json:"accounts"`

	dir string
}

// loadConfig reads config.json; a missing file is an empty configuration.
func loadConfig() (*config, error) {
	dir, err := configDir()
	if err != nil {
		return nil, err
	}
	c := &config{dir: dir, Accounts: map[string]*accountEntry{}}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Join(dir, "config.json"), err)
	}
	if c.Accounts == nil {
		c.Accounts = map[string]*accountEntry{}
	}
	return c, nil
}

// save writes config.json (mode 0600).
func (c *config) save() error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(c.dir, "config.json"), append(b, '\n'))
}

// names returns the account names in order.
func (c *config) names() []string {
	var ns []string
	for n := range c.Accounts {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// entry returns the named account, or the active one when name is empty.
func (c *config) entry(name string) (string, *accountEntry, error) {
	if name == "" {
		name = c.Active
	}
	if name == "" {
		return "", nil, errNoAccount
	}
	e, ok := c.Accounts[name]
	if !ok {
		if len(c.Accounts) == 0 {
			return "", nil, errNoAccount
		}
		return "", nil, fmt.Errorf("no account named %q (see aleph account list)", name)
	}
	return name, e, nil
}

// signer loads the key of the named (or active) account.
func (c *config) signer(name string) (message.Signer, error) {
	_, e, err := c.entry(name)
	if err != nil {
		return nil, err
	}
	p := e.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.dir, p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	return parseKey(e.Chain, strings.TrimSpace(string(b)))
}

// writeFileAtomic writes b to path with mode 0600 through a temporary file.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
