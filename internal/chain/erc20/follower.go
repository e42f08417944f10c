// Package erc20 follows the Transfer events of an ERC-20 token on an EVM
// chain (eth_getLogs over JSON-RPC) and keeps every holder's balance in the
// store, by block height. Only blocks at least Confirmations below the head
// are read, so a reorg within that depth never reaches the balances; the
// follower remembers the hash of the last block it applied and stops with
// ErrReorg if that block leaves the chain (a reorg deeper than the depth).
package erc20

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/big"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/goaleph/goaleph/internal/chain/ethrpc"
	"github.com/goaleph/goaleph/internal/store"
)

// Defaults of Config.
const (
	DefaultChain         = "ETH"
	DefaultConfirmations = 12
	DefaultPollInterval  = 15 * time.Second
	DefaultMaxBlockRange = 10_000
	// DefaultToken is the ALEPH ERC-20 on Ethereum mainnet (spec network.md).
	DefaultToken = "0x27702a26126e0B3702af63Ee09aC4d1A084EF628"
)

// maxBackoff caps the wait between polls after errors.
const maxBackoff = 5 * time.Minute

// transferID is the topic of Transfer(address,address,uint256).
var transferID = crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))

// ErrReorg is returned by Poll when the last block the follower applied is
// no longer on the chain: a reorg deeper than the confirmation depth, which
// the balances cannot follow without a rescan.
var ErrReorg = errors.New("reorg below the confirmation depth")

// Source is the part of an Ethereum JSON-RPC client the follower uses;
// *ethclient.Client implements it.
type Source interface {
	BlockNumber(ctx context.Context) (uint64, error)
	FilterLogs(ctx context.Context, q ethereum.FilterQuery) ([]types.Log, error)
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
}

// Config configures a Follower. Zero fields but Token, StartHeight and
// Confirmations take their defaults.
type Config struct {
	// Chain names the chain in the balances (default "ETH").
	Chain string
	// Token is the ERC-20 contract.
	Token common.Address
	// StartHeight is the first block read when the store has no position
	// (the token's deployment block, to count every transfer).
	StartHeight uint64
	// Confirmations is how far below the head a block must be to be read
	// (0 reads the head itself; the node's setting defaults to
	// DefaultConfirmations).
	Confirmations uint64
	// PollInterval is the time between polls (default 15 s).
	PollInterval time.Duration
	// MaxBlockRange is the number of blocks per eth_getLogs call at most
	// (default 10,000); a failing call halves it, down to one block.
	MaxBlockRange uint64
	Logger        *slog.Logger
	// Updated counts the balance rows written (nil: not counted).
	Updated prometheus.Counter
}

func (c *Config) defaults() {
	if c.Chain == "" {
		c.Chain = DefaultChain
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxBlockRange == 0 {
		c.MaxBlockRange = DefaultMaxBlockRange
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Follower keeps the balances of one token. It is a lifecycle service:
// Run polls until its context ends. Poll must not run concurrently with
// itself.
type Follower struct {
	cfg   Config
	src   Source
	db    store.Store
	token string // lower-case hex, the key of its position
	close func()

	height    *prometheus.GaugeVec
	errs      *prometheus.CounterVec
	malformed prometheus.Counter

	span *ethrpc.Span
	// synced is the timestamp of the last block applied (math.Float64bits;
	// 0 before the first successful poll).
	synced atomic.Uint64
}

// SyncedTime returns the timestamp of the last block whose transfers are
// in the balances: every balance change dated at or before it has been
// read. 0 until a poll has succeeded since the follower was made. Safe for
// concurrent use.
func (f *Follower) SyncedTime() float64 { return math.Float64frombits(f.synced.Load()) }

// New returns a follower reading through src and writing to db. close, if
// not nil, is called when Run returns (or by Close): it releases src.
func New(cfg Config, src Source, db store.Store, close func()) *Follower {
	cfg.defaults()
	f := &Follower{cfg: cfg, src: src, db: db, token: strings.ToLower(cfg.Token.Hex()), close: close, span: ethrpc.NewSpan(cfg.MaxBlockRange),
		height: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "aleph_token_follower_height",
			Help: "Last block whose token transfers are in the balances, by chain."}, []string{"chain"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_token_follower_errors_total",
			Help: "Failed polls of the token follower, by kind (rpc, store, reorg)."}, []string{"kind"}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{Name: "aleph_token_follower_malformed_logs_total",
			Help: "Logs of the token that are not well-formed Transfer events, skipped."}),
	}
	return f
}

// Register adds the follower's metrics to reg.
func (f *Follower) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{f.height, f.errs, f.malformed} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Close releases the source of a follower that is never run.
func (f *Follower) Close() error {
	if f.close != nil {
		f.close()
		f.close = nil
	}
	return nil
}

// Run polls every PollInterval (backing off up to 5 minutes while polls
// fail) until ctx ends, then releases the source and returns nil.
func (f *Follower) Run(ctx context.Context) error {
	defer f.Close()
	wait := time.Duration(0)
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		err := f.Poll(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			f.cfg.Logger.Warn("token follower", "chain", f.cfg.Chain, "token", f.token, "err", err, "failures", failures)
			wait = min(f.cfg.PollInterval<<min(failures, 10), maxBackoff)
		default:
			failures, wait = 0, f.cfg.PollInterval
		}
	}
}

// Poll applies the transfers of every confirmed block after the stored
// position, one block range per transaction (balances and position
// together, so a crash never counts a transfer twice).
func (f *Follower) Poll(ctx context.Context) error {
	head, err := f.src.BlockNumber(ctx)
	if err != nil {
		return f.fail("rpc", fmt.Errorf("head: %w", err))
	}
	conf := f.cfg.Confirmations
	if head < conf {
		return nil
	}
	safe := head - conf
	from := f.cfg.StartHeight
	pos, found, err := f.position(ctx)
	if err != nil {
		return f.fail("store", err)
	}
	if found {
		hdr, err := f.src.HeaderByNumber(ctx, big.NewInt(pos.Height))
		if err != nil {
			return f.fail("rpc", fmt.Errorf("block %d: %w", pos.Height, err))
		}
		if hdr.Hash().Hex() != pos.BlockHash {
			return f.fail("reorg", fmt.Errorf("%w: block %d was %s, is %s", ErrReorg, pos.Height, pos.BlockHash, hdr.Hash().Hex()))
		}
		from = uint64(pos.Height) + 1
		f.height.WithLabelValues(f.cfg.Chain).Set(float64(pos.Height))
		f.synced.Store(math.Float64bits(float64(hdr.Time)))
	} else if from > safe && safe > 0 {
		// Nothing to read yet: every block up to safe is read.
		hdr, err := f.src.HeaderByNumber(ctx, new(big.Int).SetUint64(safe))
		if err != nil {
			return f.fail("rpc", fmt.Errorf("block %d: %w", safe, err))
		}
		f.synced.Store(math.Float64bits(float64(hdr.Time)))
	}
	for from <= safe {
		to := min(from+f.span.Size()-1, safe)
		logs, err := f.src.FilterLogs(ctx, ethereum.FilterQuery{
			FromBlock: new(big.Int).SetUint64(from), ToBlock: new(big.Int).SetUint64(to),
			Addresses: []common.Address{f.cfg.Token}, Topics: [][]common.Hash{{transferID}},
		})
		if err != nil {
			if ctx.Err() != nil || !f.span.Failed(from, to, err) {
				return f.fail("rpc", fmt.Errorf("logs of blocks %d-%d: %w", from, to, err))
			}
			continue
		}
		f.span.Succeeded()
		hdr, err := f.src.HeaderByNumber(ctx, new(big.Int).SetUint64(to))
		if err != nil {
			return f.fail("rpc", fmt.Errorf("block %d: %w", to, err))
		}
		times, err := f.blockTimes(ctx, logs)
		if err != nil {
			return f.fail("rpc", err)
		}
		if err := f.apply(ctx, logs, store.TokenSync{Chain: f.cfg.Chain, Token: f.token, Height: int64(to), BlockHash: hdr.Hash().Hex()}, times); err != nil {
			return f.fail("store", err)
		}
		f.height.WithLabelValues(f.cfg.Chain).Set(float64(to))
		f.synced.Store(math.Float64bits(float64(hdr.Time)))
		from = to + 1
	}
	return nil
}

func (f *Follower) fail(kind string, err error) error {
	f.errs.WithLabelValues(kind).Inc()
	return fmt.Errorf("erc20 %s %s: %w", f.cfg.Chain, f.token, err)
}

func (f *Follower) position(ctx context.Context) (pos store.TokenSync, found bool, err error) {
	err = f.db.Update(ctx, func(tx store.Tx) error {
		var err error
		pos, err = tx.TokenSync(f.cfg.Chain, f.token)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	return pos, found, err
}

// change is what one block's transfers do to one holder.
type change struct {
	height uint64
	delta  *big.Int
}

// changes sums the Transfer logs by holder and block, each holder's blocks
// ascending. The zero address (mints and burns) holds nothing.
func (f *Follower) changes(logs []types.Log) map[common.Address][]*change {
	out := map[common.Address][]*change{}
	add := func(a common.Address, v *big.Int, height uint64) {
		if a == (common.Address{}) {
			return
		}
		cs := out[a]
		i := sort.Search(len(cs), func(i int) bool { return cs[i].height >= height })
		if i == len(cs) || cs[i].height != height {
			cs = slices.Insert(cs, i, &change{height: height, delta: new(big.Int)})
			out[a] = cs
		}
		cs[i].delta.Add(cs[i].delta, v)
	}
	for i := range logs {
		l := &logs[i]
		if l.Removed || l.Address != f.cfg.Token || len(l.Topics) != 3 || l.Topics[0] != transferID || len(l.Data) != 32 {
			f.malformed.Inc()
			continue
		}
		v := new(big.Int).SetBytes(l.Data)
		add(common.BytesToAddress(l.Topics[1].Bytes()), new(big.Int).Neg(v), l.BlockNumber)
		add(common.BytesToAddress(l.Topics[2].Bytes()), v, l.BlockNumber)
	}
	return out
}

// blockTimes returns the timestamp of every block the logs are in: the
// logs' own blockTimestamp when the RPC gives it, else the block's header.
func (f *Follower) blockTimes(ctx context.Context, logs []types.Log) (map[uint64]float64, error) {
	out := map[uint64]float64{}
	for i := range logs {
		if l := &logs[i]; l.BlockTimestamp != 0 {
			out[l.BlockNumber] = float64(l.BlockTimestamp)
		}
	}
	for i := range logs {
		h := logs[i].BlockNumber
		if _, ok := out[h]; ok {
			continue
		}
		hdr, err := f.src.HeaderByNumber(ctx, new(big.Int).SetUint64(h))
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", h, err)
		}
		out[h] = float64(hdr.Time)
	}
	return out, nil
}

// apply adds one range's changes to the stored balances and moves the
// position to the range's last block, in one transaction. Each holder gets
// one row per block that changed its balance, dated at the block's time:
// the balance at a log position is then the same on every node, whatever
// ranges each read the chain in (docs/design/0016-economy.md).
func (f *Follower) apply(ctx context.Context, logs []types.Log, pos store.TokenSync, times map[uint64]float64) error {
	changes := f.changes(logs)
	holders := make([]common.Address, 0, len(changes))
	for a := range changes {
		holders = append(holders, a)
	}
	sort.Slice(holders, func(i, j int) bool { return holders[i].Cmp(holders[j]) < 0 })
	return f.db.Update(ctx, func(tx store.Tx) error {
		var rows []store.Balance
		for _, a := range holders {
			b, err := f.current(ctx, tx, a)
			if err != nil {
				return err
			}
			for _, c := range changes[a] {
				b.Amount = new(big.Int).Add(b.Amount, c.delta)
				b.Height, b.Time = int64(c.height), times[c.height]
				rows = append(rows, b)
			}
		}
		if err := tx.SetBalances(rows); err != nil {
			return err
		}
		if f.cfg.Updated != nil {
			f.cfg.Updated.Add(float64(len(rows)))
		}
		return tx.SetTokenSync(pos)
	})
}

// current returns the stored balance of holder on the follower's chain
// (without dApp), or a zero one. A row stored under another letter case of
// the address is the same holder's and is kept under its stored spelling.
func (f *Follower) current(ctx context.Context, tx store.Tx, holder common.Address) (store.Balance, error) {
	rows, err := tx.Balances(ctx, holder.Hex())
	if err != nil {
		return store.Balance{}, err
	}
	for _, r := range rows {
		if r.Chain == f.cfg.Chain && r.Dapp == "" {
			return r, nil
		}
	}
	return store.Balance{Address: holder.Hex(), Chain: f.cfg.Chain, Amount: new(big.Int)}, nil
}
