package cli

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/internal/devnet"
)

func newDevnetCmd(g *globals) *cobra.Command {
	var (
		cfg      devnet.Config
		logLevel string
	)
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run a network of core nodes on this machine",
		Long: `Run a network of core nodes in one process: each node has its own data
directory, embedded SQLite database, HTTP API and libp2p host on 127.0.0.1,
and every node is connected to all the others. Messages posted to one node
are gossiped to the others; files stored on one node can be downloaded from
any other.

It prints each node's API URL and peer ID, then runs until Ctrl-C, which
stops every node cleanly. Without --data-dir the state lives in a temporary
directory removed at the end; with --data-dir it is kept in node-<i>/
subdirectories, and a new run keeps the nodes' messages, identities and
(when still free) ports.`,
		Example: `  aleph devnet
  aleph devnet --nodes 5 --data-dir ./devnet
  aleph --api-url http://127.0.0.1:<port> post create --type note --content '{"body":"hello"}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Nodes < 1 {
				return fmt.Errorf("--nodes must be at least 1")
			}
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = log
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(400) // as aleph node run: less GC work per message
			}
			ctx := cmd.Context()
			nw, err := devnet.Start(ctx, cfg)
			if err != nil {
				return err
			}
			printDevnet(g.out, nw)
			select {
			case <-ctx.Done():
			case <-nw.Done():
			}
			err = nw.Stop()
			fmt.Fprintln(g.out, "devnet stopped")
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", 3, "number of core nodes")
	f.StringVar(&cfg.DataDir, "data-dir", "", "keep the nodes' state here across runs (default: a temporary directory)")
	f.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	return cmd
}

func printDevnet(w io.Writer, nw *devnet.Network) {
	fmt.Fprintf(w, "devnet: %d core nodes running (Ctrl-C stops them)\n", len(nw.Nodes()))
	for _, n := range nw.Nodes() {
		fmt.Fprintf(w, "node %d  api %s  peer %s\n", n.Index(), n.APIURL(), n.PeerID())
		if len(n.P2PAddrs()) > 0 {
			fmt.Fprintf(w, "        p2p %s\n", n.P2PAddrs()[0])
		}
		fmt.Fprintf(w, "        data %s\n", n.DataDir())
	}
}
