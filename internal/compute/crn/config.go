package crn

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"time"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/microvm"
	"github.com/goaleph/goaleph/internal/httplimit"
)

// Defaults of Config.
const (
	DefaultIdleTimeout    = 3600 * time.Second // REUSE_TIMEOUT of the reference
	DefaultDrainTimeout   = 30 * time.Second
	DefaultPrepareTimeout = 10 * time.Minute
	DefaultReadyTimeout   = 20 * time.Second // INIT_TIMEOUT of the reference
	DefaultMemoryMiB      = 8192             // PROGRAM_MEMORY_RESERVED_MIB of the reference
	DefaultVCPUFactor     = 4                // VCPU_OVERCOMMIT_FACTOR of the reference
	DefaultMaxBodyBytes   = 1 << 20          // aiohttp's default, as the reference
	DefaultMaxFileBytes   = 4 << 30
	DefaultDomain         = "localhost"
	// DefaultCheckProgram is the diagnostic program of /status/check/fastapi
	// (CHECK_FASTAPI_VM_ID of the reference).
	DefaultCheckProgram = "d2b74aa29898457bde0560e47f7cdd4e77287e9f1f7a1456161d2fd7d5c855d7"
	// DefaultSettingsAddress owns the "settings" aggregate whose key
	// authorized_allocation_signers lists the scheduler's signers.
	DefaultSettingsAddress = "0xFba561a84A537fCaa567bb7A2257e7142701ae2A"
	// DefaultAllocationSigner is the scheduler's signer when neither
	// Config.AllocationSigners nor the settings aggregate name one
	// (DEFAULT_ALLOCATION_SIGNERS of the reference).
	DefaultAllocationSigner = "0x2937f62e5F81A88e921f883f8fE56ceCf4A4A44A"
	// Version is the version the node reports (Server header,
	// /status/check/version) unless Config.Version says otherwise.
	Version = "0.1.0-dev"
)

// PersistentMode says which persistent programs the node runs
// (persistent.go).
type PersistentMode string

// Persistent modes.
const (
	// PersistentFromMessages runs every PROGRAM with on.persistent = true
	// the node sees, and those the scheduler allocates (the default).
	PersistentFromMessages PersistentMode = "messages"
	// PersistentFromScheduler runs only the programs the scheduler
	// allocates, as the reference does.
	PersistentFromScheduler PersistentMode = "scheduler"
)

// Resolver looks up the TXT records of a name; *net.Resolver is one.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

var _ Resolver = (*net.Resolver)(nil)

// Config configures a Server. Zero values mean the defaults.
type Config struct {
	// CoreURL is the base URL of the core node the compute node reads
	// messages and files from (required unless Client is set).
	CoreURL string
	// Client, if set, is used instead of client.New(CoreURL).
	Client *client.Client
	// CacheDir holds the verified downloads (files/), unpacked archives
	// (unpacked/) and program volumes (volumes/). Required.
	CacheDir string
	// Domain is the node's public name: "<base32 hash>.<Domain>" reaches a
	// program, and GET / on it shows the index page. Default "localhost".
	Domain string
	// Backends are the backends by name; "wasm" runs programs whose
	// runtime is WASMRuntimeMarker, DefaultBackend all others.
	Backends       map[string]compute.Backend
	DefaultBackend string
	// IdleTimeout stops an execution after that long without requests
	// (DefaultIdleTimeout); negative stops it right after each request.
	IdleTimeout time.Duration
	// PaymentInterval is the period of the payment check (payment.go):
	// DefaultPaymentInterval; negative: no check.
	PaymentInterval time.Duration
	// DrainTimeout bounds the wait for requests in flight at shutdown.
	DrainTimeout time.Duration
	// PrepareTimeout bounds a preparation (message, downloads, backend).
	PrepareTimeout time.Duration
	// ReadyTimeout bounds the wait for a started instance to be ready.
	ReadyTimeout time.Duration
	// MemoryMiB and VCPUs are the node's capacity for programs: the sum of
	// the resources of the executions may not exceed them (default 8192
	// MiB and 4 × the number of CPUs).
	MemoryMiB int64
	VCPUs     int
	// MaxBodyBytes bounds a request body (413 beyond).
	MaxBodyBytes int64
	// HTTP are the server's connection limits. Zero fields: DefaultHTTP.
	HTTP httplimit.Config
	// MaxFileBytes bounds one download.
	MaxFileBytes int64
	// Resolver answers the _aleph-id TXT lookups (default net.DefaultResolver).
	Resolver Resolver
	// CheckProgram is the diagnostic program of /status/check/fastapi.
	CheckProgram string
	// Version is reported in the Server header (default Version).
	Version string
	// Logger receives the node's logs (default: none).
	Logger *slog.Logger
	// Watch follows the core node's WebSocket for updates (default true
	// through NoWatch = false).
	NoWatch bool
	// KeyFile holds the node's signing key (a hex ETH private key; created,
	// mode 0600, if missing). With it the node announces the programs it
	// runs (announce.go); without it, it announces nothing.
	KeyFile string
	// PublicURL is the URL clients reach the node at, used in the
	// announcements (default: the URL of the listener given to Run).
	PublicURL string
	// Persistent says which persistent programs run: PersistentFromMessages
	// (default) or PersistentFromScheduler.
	Persistent PersistentMode
	// AllocationSigners are the ETH addresses allowed to sign
	// POST /control/allocations. If empty, the allow-list is the key
	// authorized_allocation_signers of the "settings" aggregate of
	// SettingsAddress, else DefaultAllocationSigner.
	AllocationSigners []string
	// Instances runs INSTANCE messages (instances.go); nil refuses them
	// (501). InstanceForwardAddr is the host address their SSH ports are
	// forwarded on (default 0.0.0.0).
	Instances           *microvm.Backend
	InstanceForwardAddr string
	// SettingsAddress owns the "settings" aggregate read for the
	// allocation signers (default DefaultSettingsAddress).
	SettingsAddress string
}

func (c *Config) defaults() {
	if c.Client == nil {
		c.Client = client.New(c.CoreURL, client.WithUserAgent("goaleph-crn/"+Version))
	}
	if c.Domain == "" {
		c.Domain = DefaultDomain
	}
	if c.PaymentInterval == 0 {
		c.PaymentInterval = DefaultPaymentInterval
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.HTTP.ReadHeaderTimeout == 0 {
		c.HTTP.ReadHeaderTimeout = DefaultHTTP.ReadHeaderTimeout
	}
	if c.HTTP.WriteTimeout == 0 {
		c.HTTP.WriteTimeout = DefaultHTTP.WriteTimeout
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.PrepareTimeout == 0 {
		c.PrepareTimeout = DefaultPrepareTimeout
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = DefaultReadyTimeout
	}
	if c.MemoryMiB == 0 {
		c.MemoryMiB = DefaultMemoryMiB
	}
	if c.VCPUs == 0 {
		c.VCPUs = DefaultVCPUFactor * runtime.NumCPU()
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = DefaultMaxFileBytes
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	if c.CheckProgram == "" {
		c.CheckProgram = DefaultCheckProgram
	}
	if c.Version == "" {
		c.Version = Version
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Persistent == "" {
		c.Persistent = PersistentFromMessages
	}
	if c.SettingsAddress == "" {
		c.SettingsAddress = DefaultSettingsAddress
	}
}

// validate checks the settings defaults cannot fix.
func (c *Config) validate() error {
	switch c.Persistent {
	case PersistentFromMessages, PersistentFromScheduler:
	default:
		return fmt.Errorf("crn: persistent mode %q is neither %q nor %q", c.Persistent, PersistentFromMessages, PersistentFromScheduler)
	}
	for _, a := range append([]string{c.SettingsAddress}, c.AllocationSigners...) {
		if !IsETHAddress(a) {
			return fmt.Errorf("crn: %q is not an ETH address (0x and 40 hex digits)", a)
		}
	}
	return nil
}

// IsETHAddress reports whether a is "0x" followed by 40 hex digits (any
// letter case; the checksum is not checked).
func IsETHAddress(a string) bool {
	if len(a) != 42 || a[0] != '0' || (a[1] != 'x' && a[1] != 'X') {
		return false
	}
	_, err := hex.DecodeString(a[2:])
	return err == nil
}
