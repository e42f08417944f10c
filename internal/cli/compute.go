package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/node"
)

func newComputeCmd(g *globals) *cobra.Command {
	return group("compute", "Run a compute node (CRN) that runs PROGRAM messages on demand",
		`  aleph compute run --core-url http://127.0.0.1:4024`,
		newComputeRunCmd(g))
}

func newComputeRunCmd(g *globals) *cobra.Command {
	var (
		rc          crn.RoleConfig
		configPath  string
		printConfig bool
	)
	cfg := &rc.CRN
	table := rc.Settings()
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run a compute node: route HTTP to programs, prepared from a core node",
		Long: `Run a compute node (CRN). It answers HTTP on --listen (127.0.0.1:4020 by
default, behind a reverse proxy in production) and runs PROGRAM messages on
demand: a request to /vm/<item hash>/<path>, or to <base32 hash>.<domain>, or
to a host whose TXT record _aleph-id.<host> names a program, fetches the
PROGRAM message from the core node at --core-url, downloads and verifies its
code, runtime, data and volumes into --cache-dir, starts it on a backend and
forwards the request. The execution is kept for --idle-timeout after its last
request; a request longer than the program's resources.seconds gets 504.

Programs whose runtime is the WASM runtime marker (see
docs/running-a-compute-node.md) run in-process on the wasm backend (WASI
preview 1, CGI-style). Other runtimes are squashfs root file systems (the
Debian 12 Python runtime of runtimes/): the node unpacks each image once
into the cache with unsquashfs (squashfs-tools) and runs the program in a
bubblewrap sandbox (bwrap) whose first process is the guest agent
aleph-guest, a static build of cmd/aleph-guest. The agent is taken from
--sandbox-agent, else next to this executable, else from PATH; the node
refuses to start without it unless --no-sandbox (WASM programs only).
Every sandbox has a network namespace of its own; a program with
environment.internet reaches the network through slirp4netns (a user-mode
NAT that cannot reach the host's loopback). Without slirp4netns such
programs share the host's network, with a warning, unless
--require-network-isolation, which refuses them: set it in production.

The node also serves /about/login, /about/executions/list,
/about/usage/system, /status/check/…, /status/config and /metrics. Ctrl-C
drains it: new program requests get 503 while those in flight finish.

The node announces the programs it runs: it signs with the ETH key in
--key-file (created if missing) and keeps the AGGREGATE "executions" of
that address up to date on the core node, each program "running" with its
URL under --public-url, or "stopped" (docs/design/0007-executions-
announcements.md). --no-announce turns that off.

The scheduler allocates persistent programs with POST /control/allocations,
signed by an address of the allow-list: --allocation-signer (repeatable),
else the key authorized_allocation_signers of the "settings" aggregate of
--allocation-settings-address, else the reference's default signer.
--persistent-from chooses which persistent programs run: "messages" (the
default) runs every PROGRAM with on.persistent the node sees, and those
allocated; "scheduler" runs only the allocated ones, as aleph-vm does.

Settings come from flags, then the environment (ALEPH_CRN_ and the flag's
name, e.g. ALEPH_CRN_CORE_URL), then the YAML file given with --config
(keys ` + keysHelp(table) + `; an unknown key is an error). --print-config
prints the effective settings and where each came from.`,
		Example: `  aleph compute run --core-url http://127.0.0.1:4024
  aleph compute run --core-url http://127.0.0.1:4024 --listen 127.0.0.1:4020 \
      --cache-dir /var/cache/aleph/crn --domain crn.example.org --memory-mib 16384
  curl http://127.0.0.1:4020/vm/<program item hash>/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t := rc.Settings()
			log, err := loadRoleSettings(cmd, t, configPath, &rc.LogLevel)
			if err != nil {
				return err
			}
			cfg.Logger, cfg.Version = log, node.Version
			switch m := crn.PersistentMode(rc.PersistentFrom); m {
			case crn.PersistentFromMessages, crn.PersistentFromScheduler:
				cfg.Persistent = m
			default:
				return fmt.Errorf("--persistent-from: %q is neither %q nor %q", rc.PersistentFrom, crn.PersistentFromMessages, crn.PersistentFromScheduler)
			}
			for _, a := range cfg.AllocationSigners {
				if !crn.IsETHAddress(a) {
					return fmt.Errorf("--allocation-signer: %q is not an ETH address (0x and 40 hex digits)", a)
				}
			}
			if !crn.IsETHAddress(cfg.SettingsAddress) {
				return fmt.Errorf("--allocation-settings-address: %q is not an ETH address (0x and 40 hex digits)", cfg.SettingsAddress)
			}
			if cfg.CacheDir == "" {
				dir, err := os.UserCacheDir()
				if err != nil {
					return fmt.Errorf("--cache-dir is required: %w", err)
				}
				cfg.CacheDir = filepath.Join(dir, "goaleph", "crn")
			}
			switch {
			case rc.NoAnnounce:
				cfg.KeyFile = ""
			case cfg.KeyFile == "":
				cfg.KeyFile = filepath.Join(cfg.CacheDir, "crn-key")
			}
			if printConfig {
				return t.Print(g.out)
			}
			r, err := crn.NewRole(cmd.Context(), rc) // rc.CRN is cfg
			if err != nil {
				return err
			}
			fmt.Fprintf(g.out, "compute node on %s (core node %s, cache %s)\n", r.URL(), cfg.CoreURL, cfg.CacheDir)
			if a := r.Server().Address(); a != "" {
				fmt.Fprintf(g.out, "announcing executions as %s (aggregate %q)\n", a, crn.AnnouncementKey)
			}
			return r.Run(cmd.Context())
		},
	}
	registerRoleFlags(cmd.Flags(), table, &configPath, &printConfig)
	return cmd
}
