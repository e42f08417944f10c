package cli

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/settings"
	"github.com/goaleph/goaleph/internal/store/storeurl"
)

// applyNodeSettings fills s from the configuration file (when path is not
// empty) and the environment, leaving the flags the user set alone, checks
// the result and returns the settings table with each value's source.
func applyNodeSettings(flags *pflag.FlagSet, path string, s *node.RoleConfig) (*settings.Table, error) {
	t := s.Settings()
	if err := t.Load(flags, path, os.Environ()); err != nil {
		return nil, err
	}
	cfg := &s.Node
	if cfg.DatabaseURL != "" {
		if _, err := storeurl.Kind(cfg.DatabaseURL); err != nil {
			return nil, err
		}
	}
	if u := s.P2P.APIURL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("announce URL %q: not an http(s) URL", u)
		}
	}
	return t, nil
}

// keysHelp lists the YAML keys of t for a long help text, on lines of at
// most 76 columns.
func keysHelp(t *settings.Table) string {
	var b strings.Builder
	col := 0
	keys := t.Keys()
	for i, k := range keys {
		w := k
		if i < len(keys)-1 {
			w += ","
		}
		if i > 0 {
			if col+1+len(w) > 76 {
				b.WriteString("\n")
				col = 0
			} else {
				b.WriteString(" ")
				col++
			}
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
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
