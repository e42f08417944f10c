package chainsync

import (
	"log/slog"
	"time"

	"github.com/goaleph/goaleph/internal/chain/ethrpc"
	"github.com/goaleph/goaleph/internal/settings"
)

// Mainnet presets (spec core-node §7.1): the AlephSync contract on Ethereum,
// the only address whose SyncEvents count, and the height the reference
// starts reading from.
const (
	MainnetSyncContract = "0x166fd4299364B21c7567e163d85D78d2fb2f8Ad5"
	MainnetEmitter      = "0x23eC28598DCeB2f7082Cc3a9D670592DfEd6e0dC"
	MainnetStartHeight  = 11_400_000
)

// Defaults of Config.
const (
	// DefaultConfirmations is how far below the head a block must be to be
	// read.
	DefaultConfirmations = 12
	// DefaultPollInterval is the reference's message_delay.
	DefaultPollInterval = 30 * time.Second
	// DefaultArchiveTimeout bounds one attempt to fetch an archive (the
	// reference's 60 s).
	DefaultArchiveTimeout = 60 * time.Second
	// DefaultRetryBase is the first back-off after a failed poll or archive
	// fetch; it doubles with each failure up to DefaultMaxBackoff.
	DefaultRetryBase  = 2 * time.Second
	DefaultMaxBackoff = 10 * time.Minute
)

// Config configures the chain sync service. It is off (Enabled is false)
// unless RPC is set; the other fields default to the mainnet presets.
type Config struct {
	// RPC is the Ethereum JSON-RPC endpoint (http:// or ws://).
	RPC string
	// SyncContract is the AlephSync contract's address.
	SyncContract string
	// Emitters are the addresses whose SyncEvents count.
	Emitters []string
	// Confirmations is how far below the head a block must be to be read.
	Confirmations int64
	// StartHeight is the first block read by a node that read none yet.
	StartHeight int64
	// PollInterval is the time between two reads of the chain.
	PollInterval time.Duration
	// ArchiveTimeout bounds one attempt to fetch an archive.
	ArchiveTimeout time.Duration
	// RPCTimeout bounds every JSON-RPC call (ethrpc.DefaultTimeout); a
	// call that outlasts it fails the poll, which is retried after a
	// back-off.
	RPCTimeout time.Duration
	// RetryBase and MaxBackoff bound the back-off of failed polls and of
	// archives not found: RetryBase, doubling, at most MaxBackoff.
	RetryBase  time.Duration
	MaxBackoff time.Duration
	Logger     *slog.Logger
}

// Enabled tells whether the service is configured to run.
func (c *Config) Enabled() bool { return c.RPC != "" }

func (c *Config) defaults() {
	if c.SyncContract == "" {
		c.SyncContract = MainnetSyncContract
	}
	if c.Emitters = normalizeAddresses(c.Emitters); len(c.Emitters) == 0 {
		c.Emitters = []string{MainnetEmitter}
	}
	for _, d := range []struct {
		p   *time.Duration
		def time.Duration
	}{{&c.PollInterval, DefaultPollInterval}, {&c.ArchiveTimeout, DefaultArchiveTimeout}, {&c.RPCTimeout, ethrpc.DefaultTimeout},
		{&c.RetryBase, DefaultRetryBase}, {&c.MaxBackoff, DefaultMaxBackoff}} {
		if *d.p <= 0 {
			*d.p = d.def
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Settings are the rows of the service in the core node's settings table
// (keys chain.ethereum.*).
func (c *Config) Settings() []*settings.Setting {
	return []*settings.Setting{
		settings.String(&c.RPC, "eth-rpc", "chain.ethereum.rpc", "", "Ethereum JSON-RPC URL to read the AlephSync contract from (empty: chain sync off)"),
		settings.String(&c.SyncContract, "eth-sync-contract", "chain.ethereum.sync_contract", MainnetSyncContract, "address of the AlephSync contract"),
		settings.Strings(&c.Emitters, "eth-emitters", "chain.ethereum.emitters", []string{MainnetEmitter}, "addresses whose SyncEvents count, repeatable or comma-separated"),
		settings.Int64(&c.Confirmations, "eth-confirmations", "chain.ethereum.confirmations", DefaultConfirmations, "blocks below the head a block must be to be read"),
		settings.Int64(&c.StartHeight, "eth-start-height", "chain.ethereum.start_height", MainnetStartHeight, "first block read by a node that has read none"),
		settings.Duration(&c.PollInterval, "eth-poll-interval", "chain.ethereum.poll_interval", DefaultPollInterval, "time between two reads of the chain"),
		settings.Duration(&c.ArchiveTimeout, "eth-archive-timeout", "chain.ethereum.archive_timeout", DefaultArchiveTimeout, "time allowed to fetch one archive before it is retried later"),
		settings.Duration(&c.RPCTimeout, "eth-rpc-timeout", "chain.ethereum.rpc_timeout", ethrpc.DefaultTimeout, "time allowed to one JSON-RPC call of the chain reader, packer and token follower before it counts as failed"),
	}
}
