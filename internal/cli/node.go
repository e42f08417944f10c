package cli

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/internal/api"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/store/storeurl"
)

func newNodeCmd() *cobra.Command {
	return group("node", "Run and inspect a core node (CCN)",
		`  aleph node run --data-dir ./data`,
		newNodeRunCmd(),
		newNodeDBCmd())
}

func newNodeRunCmd() *cobra.Command { return nodeRunCmd(new(node.RoleConfig)) }

// nodeRunCmd is aleph node run with its flags bound to s.
func nodeRunCmd(s *node.RoleConfig) *cobra.Command {
	var (
		configPath  string
		printConfig bool
	)
	cfg := &s.Node
	table := s.Settings()
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a core node: message API, processing pipeline, file store and p2p network",
		Long: `Run a core node with its file store in the data directory and its database
at --database-url: an embedded SQLite file (default: <data-dir>/aleph.db) or a
PostgreSQL server. The HTTP API (Aleph protocol, v0/v1) listens on
127.0.0.1:4024 by default. Ctrl-C stops the node cleanly; a restart resumes
where it stopped.

The node joins the peer-to-peer network (libp2p, TCP and QUIC on
127.0.0.1:4025 by default; --p2p-listen /ip4/0.0.0.0/tcp/4025 for a public
node): it exchanges messages with the --bootstrap peers and the peers they
announce, and fetches missing files from --http-peer APIs. Its identity key
is <data-dir>/node-secret.pkcs8.der, created on first start. --no-p2p runs
the node alone.

Settings come from flags, then the environment (ALEPH_ and the flag's name,
e.g. ALEPH_DATABASE_URL), then the YAML file given with --config (keys
` + keysHelp(table) + `; an unknown key is an error).
--print-config prints the effective settings and where each came from.

The node runs in "no quota" mode: balances are not checked.`,
		Example: `  aleph node run
  aleph node run --data-dir /var/lib/aleph --listen 0.0.0.0:4024 \
      --p2p-listen /ip4/0.0.0.0/tcp/4025,/ip4/0.0.0.0/udp/4025/quic-v1 \
      --announce-url https://aleph.example.org \
      --bootstrap /dns4/peer.example.org/tcp/4025/p2p/12D3KooW...
  aleph node run --no-p2p --database-url postgres://aleph@localhost/aleph
  aleph node run --config /etc/aleph/node.yml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := applyNodeSettings(cmd.Flags(), configPath, s)
			if err != nil {
				return err
			}
			if cfg.DatabaseURL == "" {
				cfg.DatabaseURL = storeurl.SQLiteURL(filepath.Join(cfg.DataDir, "aleph.db"))
			}
			if printConfig {
				return t.Print(cmd.OutOrStdout())
			}
			log, err := newLogger(s.LogLevel)
			if err != nil {
				return err
			}
			cfg.Logger = log
			if os.Getenv("GOGC") == "" {
				// The node allocates many short-lived objects per message;
				// collecting less often saves ~7% CPU under load.
				debug.SetGCPercent(400)
			}
			return runNode(cmd.Context(), s, log)
		},
	}
	f := cmd.Flags()
	table.Register(f)
	f.StringVar(&configPath, "config", "", "YAML configuration file (flags and the environment win over it)")
	f.BoolVar(&printConfig, "print-config", false, "print the effective settings and their sources, then exit")
	cfg.Limits.MaxCARSize, cfg.Limits.MaxBodySize = api.DefaultLimits.MaxCARSize, api.DefaultLimits.MaxBodySize
	return cmd
}

// runNode runs the core node role (the node and, unless disabled, its p2p
// service) until ctx ends or one of them fails; see node.Role.Run.
func runNode(ctx context.Context, s *node.RoleConfig, log *slog.Logger) error {
	rc := *s
	ln, err := net.Listen("tcp", rc.Node.Listen)
	if err != nil {
		return err
	}
	rc.Listener = ln
	rc.P2P.DataDir, rc.P2P.Version, rc.P2P.Logger = rc.Node.DataDir, node.Version, log
	if rc.P2P.APIURL == "" {
		rc.P2P.APIURL = announceURL(ln.Addr().String())
	}
	r, err := node.NewRole(ctx, rc)
	if err != nil {
		return err
	}
	if svc := r.P2P(); svc != nil {
		log.Info("p2p starting", "peer_id", svc.ID().String(), "announce_url", rc.P2P.APIURL)
		for _, a := range svc.Addrs() {
			log.Info("p2p address", "addr", a)
		}
	}
	log.Info("core node starting", "version", node.Version, "data_dir", rc.Node.DataDir,
		"database", storeurl.Redact(rc.Node.DatabaseURL))
	err = r.Run(ctx)
	log.Info("core node stopped")
	return err
}
