package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/message"
)

// globals holds the persistent flags of the client commands.
type globals struct {
	apiURL  string
	channel string
	account string
	json    bool
	out     io.Writer
}

// addGlobalFlags registers the flags every client command shares. Flags win
// over ALEPH_API_URL and ALEPH_CHANNEL.
func (g *globals) addFlags(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&g.apiURL, "api-url", envOr("ALEPH_API_URL", defaultAPIURL), "base URL of the core node's API (env ALEPH_API_URL)")
	f.StringVar(&g.channel, "channel", envOr("ALEPH_CHANNEL", defaultChannel), "channel of the messages sent (env ALEPH_CHANNEL)")
	f.StringVar(&g.account, "account", "", "name of the account that signs (default: the active one)")
	f.BoolVar(&g.json, "json", false, "print JSON for scripts instead of tables")
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// client returns a client of the configured node.
func (g *globals) client() *client.Client {
	return client.New(g.apiURL, client.WithUserAgent("goaleph-cli/0.1"))
}

// signer loads the account that signs.
func (g *globals) signer() (message.Signer, error) {
	c, err := loadConfig()
	if err != nil {
		return nil, err
	}
	return c.signer(g.account)
}

// printJSON writes v as indented JSON.
func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table returns a tab writer for aligned columns; Flush it.
func (g *globals) table() *tabwriter.Writer {
	return tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
}

// checkHash validates an item hash locally, before asking the node.
func checkHash(h string) error {
	if !message.ValidHash(h) {
		return fmt.Errorf("%q is not an item hash (64 hex digits or a CID)", h)
	}
	return nil
}

// splitList splits comma-separated flag values ("a,b" or repeated flags).
func splitList(vs []string) []string {
	var out []string
	for _, v := range vs {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// errorLine formats err as the single line printed on stderr: the node's
// reason and code, or which URL could not be reached.
func errorLine(err error, apiURL string) string {
	var ne *client.Error
	var s string
	switch {
	case errors.As(err, &ne):
		s = fmt.Sprintf("node answered %d", ne.Status)
		if ne.Code != nil {
			s += fmt.Sprintf(" (error code %d, %s)", int(*ne.Code), ne.Code.String())
		}
		if m := ne.Message; m != "" {
			if ne.Code != nil {
				m = strings.TrimPrefix(m, ne.Code.String()+": ")
			}
			s += ": " + m
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		s = fmt.Sprintf("cannot reach the node at %s: connection refused", apiURL)
	default:
		var oe *net.OpError
		var ue *url.Error
		if errors.As(err, &oe) && oe.Op == "dial" {
			s = fmt.Sprintf("cannot reach the node at %s: %v", apiURL, oe.Err)
		} else if errors.As(err, &ue) && ue.Timeout() {
			s = fmt.Sprintf("the node at %s did not answer in time", apiURL)
		} else {
			s = err.Error()
		}
	}
	for strings.HasPrefix(s, "aleph: ") {
		s = strings.TrimPrefix(s, "aleph: ")
	}
	s = strings.Join(strings.Fields(s), " ")
	return "aleph: " + s
}
