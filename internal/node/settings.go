package node

import (
	"time"

	"github.com/goaleph/goaleph/internal/api"
	"github.com/goaleph/goaleph/internal/balances"
	"github.com/goaleph/goaleph/internal/economy"
	"github.com/goaleph/goaleph/internal/httplimit"
	"github.com/goaleph/goaleph/internal/settings"
)

// Defaults of Config, used by its settings table and by Config's own
// defaults.
const (
	DefaultDataDir     = "data"
	DefaultListen      = "127.0.0.1:4024"
	DefaultGracePeriod = 24 * time.Hour
	DefaultGCPeriod    = 24 * time.Hour
	DefaultMaxRetries  = 10
	// DefaultRejectedRetention and DefaultMaxRejected bound the records
	// of rejected messages (RejectedConfig).
	DefaultRejectedRetention = 7 * 24 * time.Hour
	DefaultMaxRejected       = 100_000
	DefaultLogLevel          = "info"
)

// Settings is the settings table of the core node role bound to c: every
// flag of aleph node run, its key in the configuration file and its
// environment variable.
func (c *RoleConfig) Settings() *settings.Table {
	n, p := &c.Node, &c.P2P
	db := settings.String(&n.DatabaseURL, "database-url", "database.url", "",
		"database: sqlite:///path/aleph.db or postgres://user@host/db (default <data-dir>/aleph.db)")
	db.Env, db.Secret = "ALEPH_DATABASE_URL", true
	return settings.New("ALEPH_", append([]*settings.Setting{
		settings.String(&n.DataDir, "data-dir", "data_dir", DefaultDataDir, "directory of the database, the file store and the p2p identity key"),
		db,
		settings.String(&n.Listen, "listen", "api.listen", DefaultListen, "address of the HTTP API"),
		settings.Duration(&n.GracePeriod, "grace-period", "storage.grace_period", DefaultGracePeriod, "how long unpinned files are kept"),
		settings.Duration(&n.GCPeriod, "gc-period", "storage.gc_period", DefaultGCPeriod, "garbage collector interval"),
		settings.Int(&n.MaxRetries, "max-retries", "pipeline.max_retries", DefaultMaxRetries, "processing attempts before a retryable failure is a rejection"),
		settings.Duration(&n.Rejected.Retention, "rejected-retention", "pipeline.rejected_retention", DefaultRejectedRetention, "how long the record of a rejected message is kept (negative: until the cap)"),
		settings.Int(&n.Rejected.Max, "max-rejected", "pipeline.max_rejected", DefaultMaxRejected, "records of rejected messages kept at most, the oldest pruned first (negative: no cap)"),
		settings.Int64(&n.Limits.MaxFileSize, "max-file-size", "api.max_file_size", api.DefaultLimits.MaxFileSize, "largest authenticated upload on the storage engine, in bytes"),
		settings.Int64(&n.Limits.MaxUnauthenticatedSize, "max-unauthenticated-upload-size", "api.max_unauthenticated_upload_size", api.DefaultLimits.MaxUnauthenticatedSize, "largest upload without a signed STORE message, in bytes"),
		settings.Int64(&n.Limits.MaxIPFSFileSize, "max-ipfs-file-size", "api.max_ipfs_file_size", api.DefaultLimits.MaxIPFSFileSize, "largest authenticated upload on the IPFS engine, in bytes"),
		settings.Int(&n.MaxWebsockets, "max-websockets", "api.max_websockets", api.DefaultMaxWebsockets, "open /api/ws0 connections at once; more are closed with 1013"),
		settings.Bool(&n.Pprof, "pprof", "api.pprof", false, "serve Go's profiler under /debug/pprof/"),
		settings.InvertedBool(&c.NoP2P, "no-p2p", "p2p.enabled", "do not join the peer-to-peer network"),
		settings.Strings(&p.ListenAddrs, "p2p-listen", "p2p.listen", nil, "libp2p listen multiaddrs, repeatable or comma-separated (default /ip4/127.0.0.1/tcp/4025 and /ip4/127.0.0.1/udp/4025/quic-v1)"),
		settings.Strings(&p.Bootstrap, "bootstrap", "p2p.bootstrap", nil, "multiaddrs of peers to connect to, with /p2p/<peer id> (repeatable)"),
		settings.Strings(&p.HTTPPeers, "http-peer", "p2p.http_peers", nil, "API base URLs of peers to fetch missing files from (repeatable)"),
		settings.Strings(&p.TrustedPeers, "trusted-peer", "p2p.trusted_peers", nil, "peer IDs whose alive messages are trusted besides the bootstrap peers (default: all)"),
		settings.String(&p.APIURL, "announce-url", "p2p.announce_url", "", "this node's public API URL, announced to peers (default http://<--listen> unless it is 0.0.0.0)"),
		settings.Strings(&n.Balances.Addresses, "balances-address", "balances.addresses", balances.TrustedSenders, "content addresses whose balances-update posts set token balances (repeatable)"),
		settings.String(&n.Balances.PostType, "balances-post-type", "balances.post_type", balances.PostType, "post type of the balance updates"),
		settings.Bool(&n.Economy.Quota, "quota", "economy.quota", false, "refuse STORE, PROGRAM and INSTANCE messages their owner cannot pay for (balance, credits, payment cut-offs)"),
		settings.String(&n.Economy.PricingAddress, "pricing-address", "economy.pricing_address", economy.PricingAddress, "owner of the pricing aggregate"),
		settings.Strings(&n.Economy.CreditSenders, "credit-sender", "economy.credit_senders", []string{economy.CreditSender}, "content addresses whose distributions and expenses make the credit ledger and whose transfers create credits; anyone's transfer moves its own (repeatable)"),
		settings.String(&n.Economy.CreditChannel, "credit-channel", "economy.credit_channel", economy.CreditChannel, "channel of the credit posts"),
		settings.Int64(&n.Economy.FreeCutoff, "free-cutoff", "economy.free_cutoff", economy.DefaultFreeCutoff, "unix time before which STOREs and on-demand programs are free"),
		settings.Int64(&n.Economy.HoldCutoff, "hold-cutoff", "economy.hold_cutoff", economy.DefaultHoldCutoff, "unix time from which new instances and persistent programs must be paid with credits"),
		settings.Int64(&n.Economy.CreditOnlyCutoff, "credit-only-cutoff", "economy.credit_only_cutoff", economy.DefaultCreditOnlyCutoff, "unix time from which every paid message must be paid with credits"),
		settings.Duration(&n.Economy.CollectGrace, "collect-grace", "economy.collect_grace", DefaultCollectGrace, "how long, in log time, a message its owner no longer pays for stays removing before it is removed"),
		settings.Duration(&n.Economy.CollectPeriod, "collect-period", "economy.collect_period", DefaultCollectPeriod, "interval between collection passes (with quotas on)"),
		settings.String(&c.LogLevel, "log-level", "log_level", DefaultLogLevel, "debug, info, warn or error"),
	}, append(n.HTTP.Settings(httplimit.Defaults), append(c.Chain.Settings(), append(c.Token.settings(), c.Packer.Settings()...)...)...)...)...)
}
