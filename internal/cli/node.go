package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/goaleph/goaleph/internal/api"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/p2p"
	"github.com/goaleph/goaleph/internal/store/storeurl"
)

func newNodeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "node",
		Short:   "Run and inspect a core node (CCN)",
		Example: `  aleph node run --data-dir ./data`,
	}
	cmd.AddCommand(newNodeRunCmd())
	cmd.AddCommand(newNodeDBCmd())
	return cmd
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

// runNode runs the core node and, unless disabled, its p2p service until
// ctx ends or one of them fails; either stopping stops the other. The p2p
// service stops first, so that it feeds nothing to a closing node.
func runNode(ctx context.Context, s *node.RoleConfig, log *slog.Logger) error {
	cfg := s.Node
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	var svc *p2p.Service
	if !s.NoP2P {
		pc := s.P2P
		pc.DataDir, pc.Version, pc.Logger = cfg.DataDir, node.Version, log
		if pc.APIURL == "" {
			pc.APIURL = announceURL(ln.Addr().String())
		}
		if svc, err = p2p.New(pc); err != nil {
			ln.Close()
			return fmt.Errorf("p2p: %w", err)
		}
		cfg.Fetcher = svc
		log.Info("p2p starting", "peer_id", svc.ID().String(), "announce_url", pc.APIURL)
		for _, a := range svc.Addrs() {
			log.Info("p2p address", "addr", a)
		}
	}
	n, err := node.New(ctx, cfg)
	if err != nil {
		ln.Close()
		if svc != nil {
			svc.Close()
		}
		return err
	}
	log.Info("core node starting", "version", node.Version, "data_dir", cfg.DataDir,
		"database", storeurl.Redact(cfg.DatabaseURL))
	if svc == nil {
		err = n.Serve(ctx, ln)
		log.Info("core node stopped")
		return err
	}
	svc.SetBlockstore(n.Files().Blockstore()) // bitswap serves the node's IPFS files
	if err := svc.Register(n.Registry()); err != nil {
		stopped, cancel := context.WithCancel(ctx)
		cancel()
		_ = n.Serve(stopped, ln) // closes the stores and the listener
		svc.Close()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nodeCtx, stopNode := context.WithCancel(context.WithoutCancel(ctx))
	defer stopNode()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer cancel() // the node stopped: stop the p2p service too
		return n.Serve(nodeCtx, ln)
	})
	g.Go(func() error {
		defer stopNode()
		err := svc.Run(gctx, n)
		if err != nil {
			err = fmt.Errorf("p2p: %w", err)
		}
		return err
	})
	err = g.Wait()
	log.Info("core node stopped")
	return err
}
