package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/node"
)

func newComputeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "compute",
		Short:   "Run a compute node (CRN) that runs PROGRAM messages on demand",
		Example: `  aleph compute run --core-url http://127.0.0.1:4024`,
	}
	cmd.AddCommand(newComputeRunCmd(g))
	return cmd
}

func newComputeRunCmd(g *globals) *cobra.Command {
	var (
		cfg        crn.Config
		listen     string
		logLevel   string
		idle       time.Duration
		noWasm     bool
		noSandbox  bool
		isolateNet bool
		agent      string
		noAnnounce bool
		persistent string
	)
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
allocated; "scheduler" runs only the allocated ones, as aleph-vm does.`,
		Example: `  aleph compute run --core-url http://127.0.0.1:4024
  aleph compute run --core-url http://127.0.0.1:4024 --listen 127.0.0.1:4020 \
      --cache-dir /var/cache/aleph/crn --domain crn.example.org --memory-mib 16384
  curl http://127.0.0.1:4020/vm/<program item hash>/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Logger, cfg.Version, cfg.IdleTimeout = log, node.Version, idle
			switch m := crn.PersistentMode(persistent); m {
			case crn.PersistentFromMessages, crn.PersistentFromScheduler:
				cfg.Persistent = m
			default:
				return fmt.Errorf("--persistent-from: %q is neither %q nor %q", persistent, crn.PersistentFromMessages, crn.PersistentFromScheduler)
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
			case noAnnounce:
				cfg.KeyFile = ""
			case cfg.KeyFile == "":
				cfg.KeyFile = filepath.Join(cfg.CacheDir, "crn-key")
			}
			r, err := crn.NewRole(cmd.Context(), crn.RoleConfig{CRN: cfg, Listen: listen, NoWasm: noWasm,
				NoSandbox: noSandbox, SandboxAgent: agent, RequireNetworkIsolation: isolateNet,
				NoAnnounce: noAnnounce, LogLevel: logLevel})
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
	f := cmd.Flags()
	f.StringVar(&cfg.CoreURL, "core-url", "http://127.0.0.1:4024", "API URL of the core node to read messages and files from")
	f.StringVar(&listen, "listen", "127.0.0.1:4020", "address of the HTTP server")
	f.StringVar(&cfg.CacheDir, "cache-dir", "", "directory of downloaded files, unpacked code, volumes and compiled modules (default <user cache dir>/goaleph/crn)")
	f.StringVar(&cfg.Domain, "domain", crn.DefaultDomain, "public domain name: programs are reached at <base32 hash>.<domain>")
	f.DurationVar(&idle, "idle-timeout", crn.DefaultIdleTimeout, "stop an execution after this long without requests (negative: after each request)")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", crn.DefaultDrainTimeout, "at shutdown, how long requests in flight may finish")
	f.Int64Var(&cfg.MemoryMiB, "memory-mib", crn.DefaultMemoryMiB, "memory given to programs in all, in MiB (admission control)")
	f.IntVar(&cfg.VCPUs, "vcpus", 0, "vCPUs given to programs in all (default 4 × the CPUs)")
	f.Int64Var(&cfg.MaxBodyBytes, "max-body-size", crn.DefaultMaxBodyBytes, "largest request body passed to a program, in bytes")
	f.BoolVar(&cfg.NoWatch, "no-watch", false, "do not follow the core node's message feed for program updates")
	f.BoolVar(&noWasm, "no-wasm", false, "do not run WASM programs")
	f.BoolVar(&noSandbox, "no-sandbox", false, "do not run sandboxed programs (squashfs runtimes): WASM programs only")
	f.BoolVar(&isolateNet, "require-network-isolation", false,
		"refuse programs with internet when slirp4netns is missing, instead of letting them share the host's network")
	f.StringVar(&agent, "sandbox-agent", "", "path of the static guest agent aleph-guest (default: next to this executable, else on PATH)")
	f.StringVar(&cfg.KeyFile, "key-file", "", "hex ETH private key the node signs its announcements with, created (mode 0600) if missing (default <cache-dir>/crn-key)")
	f.StringVar(&cfg.PublicURL, "public-url", "", "URL clients reach this node at, announced with each program (default the --listen URL)")
	f.BoolVar(&noAnnounce, "no-announce", false, "do not announce the programs this node runs")
	f.StringVar(&persistent, "persistent-from", string(crn.PersistentFromMessages),
		`which persistent programs run: "messages" (every one seen, and those allocated) or "scheduler" (only those allocated)`)
	f.StringArrayVar(&cfg.AllocationSigners, "allocation-signer", nil,
		"ETH address allowed to sign POST /control/allocations (repeatable; default: the settings aggregate's, else "+crn.DefaultAllocationSigner+")")
	f.StringVar(&cfg.SettingsAddress, "allocation-settings-address", crn.DefaultSettingsAddress,
		`address whose "settings" aggregate lists the allocation signers (authorized_allocation_signers)`)
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
