package packer

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/goaleph/goaleph/internal/chain/chainsync"
	"github.com/goaleph/goaleph/internal/settings"
)

// Defaults of Config. Failed RPC calls are retried with the chain sync
// service's back-off (chainsync.DefaultRetryBase doubling up to
// DefaultMaxBackoff).
const (
	DefaultCommitDelay    = 35 * time.Second // the reference's commit_delay on Ethereum
	DefaultMaxMessages    = 10_000           // spec §7.1
	DefaultFollowInterval = 3 * time.Second  // between two looks at a sent transaction
	DefaultMaxBackoff     = 5 * time.Minute
	// DefaultMaxGasPrice is the reference's ceiling on Ethereum (spec
	// core-node §7.1).
	DefaultMaxGasPrice = "150gwei"
	// DefaultBumpBlocks is how many blocks a sent transaction may wait in
	// the pool before it is replaced with higher fees.
	DefaultBumpBlocks = 12
)

// Config configures the packer, which is off unless Key is set. RPC,
// SyncContract and Confirmations are those of the chain sync service (the
// node role copies them): the packer emits on the contract the node reads,
// and a batch is done once its transaction is Confirmations blocks deep.
type Config struct {
	Key                   string // hex secp256k1 private key of the sending (and paying) account
	RPC, SyncContract     string
	Confirmations         int64
	CommitDelay           time.Duration // between two batches
	MaxMessages           int           // in one batch at most
	FollowInterval        time.Duration
	RetryBase, MaxBackoff time.Duration
	// RPCTimeout bounds each JSON-RPC call (ethrpc.DefaultTimeout).
	RPCTimeout time.Duration
	// MaxGasPrice is the gas price ceiling, wei or "<n>gwei" (default
	// DefaultMaxGasPrice; "0" or "none": no ceiling). A transaction whose
	// next block would cost more per gas (base fee + tip) is not sent, a
	// fee cap is never set above it, and a stuck transaction is not
	// replaced above it.
	MaxGasPrice string
	// BumpBlocks is how many blocks a sent transaction may stay unmined
	// before it is replaced (same nonce, fees +12.5 %); negative: never.
	BumpBlocks int

	maxGasPrice *big.Int // parsed MaxGasPrice; nil: no ceiling

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
	orDefault(&c.CommitDelay, DefaultCommitDelay)
	orDefault(&c.MaxMessages, DefaultMaxMessages)
	orDefault(&c.FollowInterval, DefaultFollowInterval)
	orDefault(&c.RetryBase, chainsync.DefaultRetryBase)
	orDefault(&c.MaxBackoff, DefaultMaxBackoff)
	if c.MaxGasPrice == "" {
		c.MaxGasPrice = DefaultMaxGasPrice
	}
	if c.BumpBlocks == 0 {
		c.BumpBlocks = DefaultBumpBlocks
	}
	c.Confirmations = max(c.Confirmations, 1)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// orDefault sets *v to def unless it is positive.
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
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
	p, err := ParseGasPrice(c.MaxGasPrice)
	if err != nil {
		return fmt.Errorf("packer: max gas price: %w", err)
	}
	if p.Sign() > 0 {
		c.maxGasPrice = p
	}
	return nil
}

// ParseGasPrice parses a gas price: an integer of wei, or of gwei with
// the suffix "gwei" ("150gwei"). "none" is zero (no ceiling).
func ParseGasPrice(s string) (*big.Int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "none" {
		return new(big.Int), nil
	}
	unit := big.NewInt(1)
	if n, ok := strings.CutSuffix(s, "gwei"); ok {
		s, unit = strings.TrimSpace(n), big.NewInt(1e9)
	} else {
		s = strings.TrimSpace(strings.TrimSuffix(s, "wei"))
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Sign() < 0 {
		return nil, fmt.Errorf("%q is not a whole number of wei or gwei", s)
	}
	return v.Mul(v, unit), nil
}

// Settings are the rows of the packer in the core node's settings table.
func (c *Config) Settings() []*settings.Setting {
	key := settings.String(&c.Key, "eth-packer-key", "chain.ethereum.packer_key", "",
		"hex private key of the account that anchors batches of messages with doEmit (empty: packer off)")
	key.Secret = true
	return []*settings.Setting{key,
		settings.Duration(&c.CommitDelay, "eth-commit-delay", "chain.ethereum.commit_delay", DefaultCommitDelay, "time between two batches the packer anchors"),
		settings.Int(&c.MaxMessages, "eth-packer-max-messages", "chain.ethereum.packer_max_messages", DefaultMaxMessages, "messages in one batch at most"),
		settings.String(&c.MaxGasPrice, "eth-max-gas-price", "chain.ethereum.max_gas_price", DefaultMaxGasPrice, "gas price ceiling of the packer, wei or <n>gwei (none: no ceiling)"),
		settings.Int(&c.BumpBlocks, "eth-bump-blocks", "chain.ethereum.bump_blocks", DefaultBumpBlocks, "blocks a sent transaction may wait unmined before it is replaced with higher fees (negative: never)"),
	}
}
