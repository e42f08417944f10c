// Package ethreader reads the AlephSync contract's events from an EVM chain
// over JSON-RPC (eth_getLogs) into a typed event stream: from the last
// synced height, in block ranges that halve when the RPC fails, only up to a
// confirmation depth below the head, and keeping only SyncEvents whose
// emitter is authorised. Expanding the events into messages (spec core-node
// §7.2) is the caller's job; payload.go parses the SyncEvent payloads.
package ethreader

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/goaleph/goaleph/contracts"
	"github.com/goaleph/goaleph/internal/chain/ethrpc"
)

// Kind says which AlephSync event an Event is.
type Kind int

// Event kinds.
const (
	SyncEvent    Kind = iota + 1 // doEmit: a sync payload (archive pointer or inline messages)
	MessageEvent                 // doMessage: one "smart-contract" message
)

// Event is one decoded AlephSync log.
type Event struct {
	Kind       Kind
	Height     uint64
	BlockHash  common.Hash
	TxHash     common.Hash
	LogIndex   uint
	Timestamp  uint64         // block time the contract put in the event, seconds
	Addr       common.Address // msg.sender of the call
	Message    string         // SyncEvent
	MsgType    string         // MessageEvent
	MsgContent string         // MessageEvent
}

// LogSource is the part of an Ethereum JSON-RPC client the reader uses;
// *ethclient.Client implements it.
type LogSource interface {
	BlockNumber(ctx context.Context) (uint64, error)
	FilterLogs(ctx context.Context, q ethereum.FilterQuery) ([]types.Log, error)
}

// HeightStore persists the last synced height per chain. Implementations
// must be safe for concurrent use.
type HeightStore interface {
	// SyncHeight returns the last height fully read for chain; ok is false
	// when nothing was read yet.
	SyncHeight(ctx context.Context, chain string) (height uint64, ok bool, err error)
	// SetSyncHeight records that every block up to height was read.
	SetSyncHeight(ctx context.Context, chain string, height uint64) error
}

// Config configures a Reader.
type Config struct {
	Chain         string           // chain name in the store, e.g. "ETH"
	Contract      common.Address   // the AlephSync contract
	Emitters      []common.Address // SyncEvents from other senders are ignored; MessageEvents are taken from anyone
	StartHeight   uint64           // first block to read when the store has no height
	Confirmations uint64           // blocks below the head a block must be to be read
	MaxBlockRange uint64           // blocks per eth_getLogs call at most; default 100,000 (the reference's)
}

// Stats counts what a Reader saw. Read it with Reader.Stats.
type Stats struct {
	Events     uint64 // events handed to the handler
	Ignored    uint64 // SyncEvents from unauthorised emitters
	Malformed  uint64 // logs that do not decode as AlephSync events
	RPCErrors  uint64 // failed eth_getLogs / eth_blockNumber calls
	LastRange  uint64 // block range size in use
	SyncHeight uint64
	Head       uint64 // the chain's head at the last poll
}

// Reader reads AlephSync events. One Reader per chain; Poll must not be
// called concurrently with itself.
type Reader struct {
	cfg      Config
	src      LogSource
	heights  HeightStore
	abi      abi.ABI
	syncID   common.Hash
	msgID    common.Hash
	emitters map[common.Address]bool

	mu    sync.Mutex
	stats Stats
	span  *ethrpc.Span
}

// New returns a reader of cfg.Contract through src, keeping its height in heights.
func New(cfg Config, src LogSource, heights HeightStore) (*Reader, error) {
	if cfg.Chain == "" {
		return nil, errors.New("ethreader: no chain name")
	}
	if cfg.MaxBlockRange == 0 {
		cfg.MaxBlockRange = 100_000
	}
	parsed, err := abi.JSON(strings.NewReader(contracts.SyncABI))
	if err != nil {
		return nil, fmt.Errorf("ethreader: sync abi: %w", err)
	}
	r := &Reader{
		cfg: cfg, src: src, heights: heights, abi: parsed,
		syncID:   crypto.Keccak256Hash([]byte(contracts.SyncEventSig)),
		msgID:    crypto.Keccak256Hash([]byte(contracts.MessageEventSig)),
		emitters: map[common.Address]bool{},
		span:     ethrpc.NewSpan(cfg.MaxBlockRange),
	}
	for _, e := range cfg.Emitters {
		r.emitters[e] = true
	}
	return r, nil
}

// Stats returns a snapshot of the reader's counters.
func (r *Reader) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.LastRange = r.span.Size()
	return s
}

func (r *Reader) count(f func(*Stats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

// Poll reads every confirmed block after the synced height. For each block
// range it calls handle with the range's events (in chain order, possibly
// none) and, once handle returns nil, stores the range's last block as the
// synced height; so an event is handed over at least once. A failing RPC
// call halves the range and retries, down to one block; Poll returns the
// error if a single block cannot be read.
func (r *Reader) Poll(ctx context.Context, handle func(context.Context, []Event) error) error {
	head, err := r.src.BlockNumber(ctx)
	if err != nil {
		r.count(func(s *Stats) { s.RPCErrors++ })
		return fmt.Errorf("ethreader: %s head: %w", r.cfg.Chain, err)
	}
	r.count(func(s *Stats) { s.Head = head })
	if head < r.cfg.Confirmations {
		return nil
	}
	safe := head - r.cfg.Confirmations
	from := r.cfg.StartHeight
	if h, ok, err := r.heights.SyncHeight(ctx, r.cfg.Chain); err != nil {
		return fmt.Errorf("ethreader: %s sync height: %w", r.cfg.Chain, err)
	} else if ok {
		from = h + 1
		r.count(func(s *Stats) { s.SyncHeight = h })
	}
	for from <= safe {
		to := min(from+r.span.Size()-1, safe)
		logs, err := r.src.FilterLogs(ctx, ethereum.FilterQuery{
			FromBlock: new(big.Int).SetUint64(from),
			ToBlock:   new(big.Int).SetUint64(to),
			Addresses: []common.Address{r.cfg.Contract},
			Topics:    [][]common.Hash{{r.syncID, r.msgID}},
		})
		if err != nil {
			r.count(func(s *Stats) { s.RPCErrors++ })
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !r.span.Failed(from, to, err) {
				if to == from {
					return fmt.Errorf("ethreader: %s logs of block %d: %w", r.cfg.Chain, from, err)
				}
				return fmt.Errorf("ethreader: %s logs of blocks %d-%d: %w", r.cfg.Chain, from, to, err)
			}
			continue
		}
		r.span.Succeeded()
		events := r.decode(logs)
		if err := handle(ctx, events); err != nil {
			return err
		}
		if err := r.heights.SetSyncHeight(ctx, r.cfg.Chain, to); err != nil {
			return fmt.Errorf("ethreader: %s store height %d: %w", r.cfg.Chain, to, err)
		}
		r.count(func(s *Stats) { s.Events += uint64(len(events)); s.SyncHeight = to })
		from = to + 1
	}
	return nil
}

func (r *Reader) decode(logs []types.Log) []Event {
	var out []Event
	for i := range logs {
		ev, err := r.Decode(&logs[i])
		if err != nil {
			r.count(func(s *Stats) { s.Malformed++ })
			continue
		}
		if ev.Kind == SyncEvent && !r.emitters[ev.Addr] {
			r.count(func(s *Stats) { s.Ignored++ })
			continue
		}
		out = append(out, ev)
	}
	return out
}

// ErrNotAlephLog marks a log that is not a well-formed AlephSync event.
var ErrNotAlephLog = errors.New("not an AlephSync event")

// Decode turns one log of the contract into an Event. Logs removed by a
// reorg, from another contract, or whose data does not decode are errors.
func (r *Reader) Decode(l *types.Log) (Event, error) {
	if l.Removed || l.Address != r.cfg.Contract || len(l.Topics) != 1 {
		return Event{}, ErrNotAlephLog
	}
	ev := Event{Height: l.BlockNumber, BlockHash: l.BlockHash, TxHash: l.TxHash, LogIndex: l.Index}
	var fields struct {
		Timestamp  *big.Int
		Addr       common.Address
		Message    string
		Msgtype    string
		Msgcontent string
	}
	var name string
	switch l.Topics[0] {
	case r.syncID:
		ev.Kind, name = SyncEvent, "SyncEvent"
	case r.msgID:
		ev.Kind, name = MessageEvent, "MessageEvent"
	default:
		return Event{}, ErrNotAlephLog
	}
	if err := r.abi.UnpackIntoInterface(&fields, name, l.Data); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrNotAlephLog, err)
	}
	if fields.Timestamp == nil || !fields.Timestamp.IsUint64() {
		return Event{}, fmt.Errorf("%w: timestamp out of range", ErrNotAlephLog)
	}
	ev.Timestamp = fields.Timestamp.Uint64()
	ev.Addr = fields.Addr
	ev.Message, ev.MsgType, ev.MsgContent = fields.Message, fields.Msgtype, fields.Msgcontent
	return ev, nil
}

// MemHeights is an in-memory HeightStore, for tests and for nodes that
// re-read the chain on every start. StoreHeights keeps them in the node's
// database.
type MemHeights struct {
	mu sync.Mutex
	m  map[string]uint64
}

var _ HeightStore = (*MemHeights)(nil)

// SyncHeight implements HeightStore.
func (h *MemHeights) SyncHeight(_ context.Context, chain string) (uint64, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[chain]
	return v, ok, nil
}

// SetSyncHeight implements HeightStore.
func (h *MemHeights) SetSyncHeight(_ context.Context, chain string, height uint64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = map[string]uint64{}
	}
	h.m[chain] = height
	return nil
}
