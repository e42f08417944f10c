package cli

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/goaleph/goaleph/internal/gateway"
	"github.com/goaleph/goaleph/internal/settings"
)

func newGatewayCmd(g *globals) *cobra.Command {
	return group("gateway", "Run a gateway: programs at their own domains, over TLS, balanced across compute nodes",
		`  aleph gateway run --core-url http://127.0.0.1:4024 --zone gw.example.org`, newGatewayRunCmd(g))
}

func newGatewayRunCmd(g *globals) *cobra.Command {
	var (
		rc          gateway.RoleConfig
		configPath  string
		printConfig bool
	)
	table := rc.Settings()
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a gateway in front of the compute nodes",
		Long: `Run a gateway, the public edge of the network (docs/gateway.md). A request
to <base32 item hash>.<zone> reaches that program; a request to any other
host reaches the program named by the host's TXT record _aleph-id.<host>
(asked of --dns-server, answers and misses cached for their TTLs). The
gateway forwards it to a compute node that announces the program (the
"executions" aggregates on the core node at --core-url, read every
--refresh-interval; fresh heartbeats only; --trusted-node restricts the
nodes followed): the less loaded of two random healthy nodes. A node that
refuses connections or answers 502, 503 or 504 gets no traffic for
--eject-for, and a failed request without a body is retried once on
another node. Unknown hosts answer 404.

With --tls-listen the gateway serves HTTPS: at the first handshake for a
host it routes, it orders a certificate from the ACME directory --acme-ca
(Let's Encrypt by default), answering the HTTP-01 challenge on --listen,
and keeps it in --cert-dir; a host it does not route gets no certificate
and no ACME order. Plain HTTP then redirects to HTTPS unless
--no-https-redirect. Metrics are served at --metrics-listen /metrics.

Settings come from flags, then the environment (ALEPH_GATEWAY_ and the
flag's name, e.g. ALEPH_GATEWAY_CORE_URL), then the YAML file given with
--config (keys ` + keysHelp(table) + `; an unknown key is an error).
--print-config prints the effective settings and where each came from.`,
		Example: `  aleph gateway run --core-url http://127.0.0.1:4024 --zone gw.example.org
  aleph gateway run --zone gw.example.org --listen :80 --tls-listen :443 \
      --acme-email ops@example.org --cert-dir /var/lib/aleph/gateway
  curl -H 'Host: <base32 hash>.gw.example.org' http://127.0.0.1:4080/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) (err error) {
			t := rc.Settings()
			if rc.Logger, err = loadRoleSettings(cmd, t, configPath, &rc.LogLevel); err != nil {
				return err
			}
			if rc.CertDir == "" && rc.TLSListen != "" {
				dir, err := os.UserConfigDir()
				if err != nil {
					return fmt.Errorf("--cert-dir is required: %w", err)
				}
				rc.CertDir = filepath.Join(dir, "goaleph", "gateway")
			}
			if printConfig {
				return t.Print(g.out)
			}
			r, err := gateway.NewRole(cmd.Context(), rc)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "gateway on %s for *.%s (core node %s)\n", r.URL(), rc.Zone, rc.CoreURL)
			if a := r.TLSAddr(); a != nil {
				fmt.Fprintf(g.out, "HTTPS on %s, certificates from %s in %s\n", a, rc.ACMECA, rc.CertDir)
			}
			if u := r.MetricsURL(); u != "" {
				fmt.Fprintf(g.out, "metrics at %s\n", u)
			}
			return r.Run(cmd.Context())
		},
	}
	registerRoleFlags(cmd.Flags(), table, &configPath, &printConfig)
	return cmd
}

// loadRoleSettings applies the flags, the environment and the file at
// configPath to a role's settings table, then returns the logger at the
// level *level they set.
func loadRoleSettings(cmd *cobra.Command, t *settings.Table, configPath string, level *string) (*slog.Logger, error) {
	if err := t.Load(cmd.Flags(), configPath, os.Environ()); err != nil {
		return nil, err
	}
	return newLogger(*level)
}

// registerRoleFlags registers the flags of a role's run command: its
// settings table, --config and --print-config.
func registerRoleFlags(f *pflag.FlagSet, table *settings.Table, configPath *string, printConfig *bool) {
	table.Register(f)
	f.StringVar(configPath, "config", "", "YAML configuration file (flags and the environment win over it)")
	f.BoolVar(printConfig, "print-config", false, "print the effective settings and their sources, then exit")
}
