package crn

import (
	"time"

	"github.com/goaleph/goaleph/internal/httplimit"
	"github.com/goaleph/goaleph/internal/settings"
)

// Defaults of the compute node role, used by its settings table.
const (
	DefaultCoreURL  = "http://127.0.0.1:4024"
	DefaultListen   = "127.0.0.1:4020"
	DefaultLogLevel = "info"
)

// DefaultHTTP are the compute node's connection limits: httplimit's,
// with more time for headers and for a response, since a program's answer
// may wait for its VM to boot.
var DefaultHTTP = func() httplimit.Config {
	c := httplimit.Defaults
	c.ReadHeaderTimeout = 30 * time.Second
	c.WriteTimeout = 5 * time.Minute
	return c
}()

// Settings is the settings table of the compute node role bound to c:
// every flag of aleph compute run, its key in the configuration file and
// its environment variable (ALEPH_CRN_ and the flag's name).
func (c *RoleConfig) Settings() *settings.Table {
	n := &c.CRN
	return settings.New("ALEPH_CRN_", append([]*settings.Setting{
		settings.String(&n.CoreURL, "core-url", "core_url", DefaultCoreURL, "API URL of the core node to read messages and files from"),
		settings.String(&c.Listen, "listen", "api.listen", DefaultListen, "address of the HTTP server"),
		settings.String(&n.CacheDir, "cache-dir", "cache_dir", "", "directory of downloaded files, unpacked code, volumes and compiled modules (default <user cache dir>/goaleph/crn)"),
		settings.String(&n.Domain, "domain", "api.domain", DefaultDomain, "public domain name: programs are reached at <base32 hash>.<domain>"),
		settings.Int64(&n.MaxBodyBytes, "max-body-size", "api.max_body_size", DefaultMaxBodyBytes, "largest request body passed to a program, in bytes"),
		settings.Duration(&n.IdleTimeout, "idle-timeout", "executions.idle_timeout", DefaultIdleTimeout, "stop an execution after this long without requests (negative: after each request)"),
		settings.Duration(&n.PaymentInterval, "payment-interval", "executions.payment_interval", DefaultPaymentInterval, "check every this long that the owners of the executions pay for them (negative: never)"),
		settings.Duration(&n.DrainTimeout, "drain-timeout", "drain_timeout", DefaultDrainTimeout, "at shutdown, how long requests in flight may finish"),
		settings.Int64(&n.MemoryMiB, "memory-mib", "resources.memory_mib", DefaultMemoryMiB, "memory given to programs in all, in MiB (admission control)"),
		settings.Int(&n.VCPUs, "vcpus", "resources.vcpus", 0, "vCPUs given to programs in all (default 4 × the CPUs)"),
		settings.InvertedBool(&n.NoWatch, "no-watch", "watch.enabled", "do not follow the core node's message feed for program updates"),
		settings.InvertedBool(&c.NoWasm, "no-wasm", "backends.wasm", "do not run WASM programs"),
		settings.InvertedBool(&c.NoSandbox, "no-sandbox", "backends.sandbox", "do not run sandboxed programs (squashfs runtimes): WASM programs only"),
		settings.Bool(&c.MicroVM, "microvm", "backends.microvm", false, "run programs on squashfs runtimes in QEMU micro VMs rather than sandboxes (needs qemu-system-x86 and a Debian kernel)"),
		settings.Bool(&c.Instances, "instances", "backends.instances", false, "run INSTANCE messages (VMs reached by SSH) in QEMU VMs, programs staying on their backends (implied by --microvm)"),
		settings.String(&n.InstanceForwardAddr, "instance-forward-addr", "instances.forward_addr", "0.0.0.0", "host address the instances' SSH ports are forwarded on"),
		settings.Bool(&c.RequireNetworkIsolation, "require-network-isolation", "sandbox.require_network_isolation", false,
			"refuse programs with internet when slirp4netns is missing, instead of letting them share the host's network"),
		settings.String(&c.SandboxAgent, "sandbox-agent", "sandbox.agent", "", "path of the static guest agent aleph-guest (default: next to this executable, else on PATH)"),
		settings.String(&n.KeyFile, "key-file", "announce.key_file", "", "hex ETH private key the node signs its announcements with, created (mode 0600) if missing (default <cache-dir>/crn-key)"),
		settings.String(&n.PublicURL, "public-url", "announce.public_url", "", "URL clients reach this node at, announced with each program (default the --listen URL)"),
		settings.InvertedBool(&c.NoAnnounce, "no-announce", "announce.enabled", "do not announce the programs this node runs"),
		settings.String(&c.PersistentFrom, "persistent-from", "allocations.persistent_from", string(PersistentFromMessages),
			`which persistent programs run: "messages" (every one seen, and those allocated) or "scheduler" (only those allocated)`),
		settings.StringArray(&n.AllocationSigners, "allocation-signer", "allocations.signers", nil,
			"ETH address allowed to sign POST /control/allocations (repeatable; default: the settings aggregate's, else "+DefaultAllocationSigner+")"),
		settings.String(&n.SettingsAddress, "allocation-settings-address", "allocations.settings_address", DefaultSettingsAddress,
			`address whose "settings" aggregate lists the allocation signers (authorized_allocation_signers)`),
		settings.String(&c.LogLevel, "log-level", "log_level", DefaultLogLevel, "debug, info, warn or error"),
	}, n.HTTP.Settings(DefaultHTTP)...)...)
}
