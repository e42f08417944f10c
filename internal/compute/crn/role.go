package crn

// RoleConfig is the configuration of the compute node role (aleph compute
// run, the compute node of a devnet, bench/coldstart): the server and the
// backends it runs programs on. Its settings table (settings.go) describes
// every key once.
type RoleConfig struct {
	CRN Config
	// Listen is the address of the HTTP server.
	Listen string
	// NoWasm and NoSandbox turn the backends off.
	NoWasm, NoSandbox bool
	// SandboxAgent is the path of the static guest agent aleph-guest
	// (default: next to the executable, else on PATH).
	SandboxAgent string
	// RequireNetworkIsolation refuses internet programs when slirp4netns
	// is missing.
	RequireNetworkIsolation bool
	// NoAnnounce turns the executions announcements off.
	NoAnnounce bool
	// PersistentFrom is the persistent mode as given on the command line,
	// validated into CRN.Persistent by the CLI (empty: CRN.Persistent).
	PersistentFrom string
	// LogLevel is debug, info, warn or error.
	LogLevel string
}
