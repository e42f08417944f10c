package packer

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/goaleph/goaleph/internal/settings"
)

// Defaults of Config.
const (
	// DefaultCommitDelay is the time between two batches (the reference's
	// commit_delay on Ethereum).
	DefaultCommitDelay = 35 * time.Second
	// DefaultMaxMessages is the most messages one batch holds (spec §7.1).
	DefaultMaxMessages = 10_000
	// DefaultFollowInterval is how often a sent transaction is looked up
	// until it is mined deep enough.
	DefaultFollowInterval = 3 * time.Second
	// DefaultRetryBase is the first back-off after a failed RPC call; it
	// doubles with each failure up to DefaultMaxBackoff.
	DefaultRetryBase  = 2 * time.Second
	DefaultMaxBackoff = 5 * time.Minute
)

// Config configures the packer. It is off unless Key is set.
type Config struct {
	// Key is the hex secp256k1 private key whose account sends the
	// transactions (and pays their gas).
	Key string
	// RPC, SyncContract and Confirmations are those of the chain sync
	// service (the node role copies them): the packer emits on the
	// contract the node reads, and a batch is done once its transaction
	// is Confirmations blocks deep.
	RPC           string
	SyncContract  string
	Confirmations int64
	// CommitDelay is the time between two batches.
	CommitDelay time.Duration
	// MaxMessages bounds the messages of one batch.
	MaxMessages int
	// FollowInterval is how often a sent transaction is looked up.
	FollowInterval time.Duration
	// RetryBase and MaxBackoff bound the back-off after RPC failures.
	RetryBase  time.Duration
	MaxBackoff time.Duration
	// Crash, for tests only, is called at each crash point; an error it
	// returns stops the service at once (Run returns it), as a crash
	// would.
	Crash  func(CrashPoint) error
	Logger *slog.Logger
}

// CrashPoint names a step after which Config.Crash is called.
type CrashPoint string

// Crash points.
const (
	// AfterRecord: the batch is recorded (archive written and pinned), no
	// transaction is signed yet.
	AfterRecord CrashPoint = "after-record"
	// AfterSign: the signed transaction is recorded, not broadcast yet.
	AfterSign CrashPoint = "after-sign"
)

// Enabled tells whether the packer is configured to run.
func (c *Config) Enabled() bool { return c.Key != "" }

func (c *Config) defaults() {
	if c.CommitDelay <= 0 {
		c.CommitDelay = DefaultCommitDelay
	}
	if c.MaxMessages <= 0 {
		c.MaxMessages = DefaultMaxMessages
	}
	if c.FollowInterval <= 0 {
		c.FollowInterval = DefaultFollowInterval
	}
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.Confirmations < 1 {
		c.Confirmations = 1
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// ParseKey parses a hex private key (with or without 0x).
func ParseKey(hexKey string) (*ecdsa.PrivateKey, error) {
	k, err := crypto.HexToECDSA(strings.TrimPrefix(strings.TrimSpace(hexKey), "0x"))
	if err != nil {
		return nil, errors.New("packer: the key is not a hex secp256k1 private key")
	}
	return k, nil
}

// Address returns the account of a hex private key: the address the
// node's chain reader must accept SyncEvents from.
func Address(hexKey string) (common.Address, error) {
	k, err := ParseKey(hexKey)
	if err != nil {
		return common.Address{}, err
	}
	return crypto.PubkeyToAddress(k.PublicKey), nil
}

func (c *Config) check() error {
	if c.RPC == "" {
		return errors.New("packer: a chain RPC (chain.ethereum.rpc) is needed")
	}
	if !common.IsHexAddress(c.SyncContract) {
		return fmt.Errorf("packer: sync contract %q is not an address", c.SyncContract)
	}
	return nil
}

// Settings are the rows of the packer in the core node's settings table.
func (c *Config) Settings() []*settings.Setting {
	key := settings.String(&c.Key, "eth-packer-key", "chain.ethereum.packer_key", "",
		"hex private key of the account that anchors batches of messages with doEmit (empty: packer off)")
	key.Secret = true
	return []*settings.Setting{key,
		settings.Duration(&c.CommitDelay, "eth-commit-delay", "chain.ethereum.commit_delay", DefaultCommitDelay, "time between two batches the packer anchors"),
		settings.Int(&c.MaxMessages, "eth-packer-max-messages", "chain.ethereum.packer_max_messages", DefaultMaxMessages, "messages in one batch at most"),
	}
}
