// Package packer anchors the node's messages on Ethereum (spec core-node
// §7.1): every commit delay it takes up to 10,000 processed messages that
// no chain confirms yet, writes their archive as a pinned IPFS file in the
// node's file store, emits the archive's CID through the AlephSync
// contract's doEmit with the node's key, and follows the transaction until
// it is mined deep enough. The node's own chain sync service then reads the
// SyncEvent back, finds the archive in the node's store and records the
// messages' confirmations; the packer itself writes no confirmation.
//
// Crash safety comes from the store's packer batches: a batch is recorded
// (with its messages, each in one batch at most) before its transaction is
// signed, and the signed transaction (nonce, hash, raw bytes) is recorded
// before it is broadcast. A restarted packer finishes the open batches
// first, broadcasting the recorded transaction again, so that one batch is
// emitted by one nonce: never twice, and no message is left out.
package packer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/goaleph/goaleph/internal/chain/ethcontracts"
	"github.com/goaleph/goaleph/internal/chain/ethreader"
	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
)

// Chain is the chain the packer anchors on, as named in the store.
const Chain = "ETH"

// Node is what the packer needs of the core node; *node.Node implements it.
type Node interface {
	Store() store.Store
	Files() *files.Store
}

// Service is the packer, a lifecycle service: Run anchors batches until its
// context ends; Close releases a service never run.
type Service struct {
	cfg      Config
	node     Node
	log      *slog.Logger
	client   *ethclient.Client
	key      *ecdsa.PrivateKey
	from     common.Address
	contract common.Address
	sync     *ethcontracts.AlephSync
	chainID  *big.Int
	metrics  *metrics
}

// New checks cfg and connects to its RPC endpoint (lazily: an unreachable
// endpoint is retried by Run).
func New(ctx context.Context, cfg Config, node Node) (*Service, error) {
	cfg.defaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	key, err := ParseKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	client, err := ethclient.DialContext(ctx, cfg.RPC)
	if err != nil {
		return nil, fmt.Errorf("packer: rpc %s: %w", cfg.RPC, err)
	}
	s := &Service{cfg: cfg, node: node, client: client, key: key, from: crypto.PubkeyToAddress(key.PublicKey),
		contract: common.HexToAddress(cfg.SyncContract), sync: ethcontracts.NewAlephSync(), metrics: newMetrics()}
	s.log = cfg.Logger.With("service", "packer", "chain", Chain, "from", s.from.Hex())
	return s, nil
}

// Close releases the RPC client of a service that is never run.
func (s *Service) Close() error {
	s.client.Close()
	return nil
}

// errCrash wraps the error of Config.Crash: it stops Run.
type errCrash struct{ err error }

func (e errCrash) Error() string { return e.err.Error() }
func (e errCrash) Unwrap() error { return e.err }

func (s *Service) crash(p CrashPoint) error {
	if s.cfg.Crash == nil {
		return nil
	}
	if err := s.cfg.Crash(p); err != nil {
		return errCrash{fmt.Errorf("packer stopped at %s: %w", p, err)}
	}
	return nil
}

// Run anchors a batch every CommitDelay (at once again when the last batch
// was full) until ctx ends. A failed step is retried after a back-off; the
// open batches are always finished before a new one is made.
func (s *Service) Run(ctx context.Context) error {
	defer s.client.Close()
	failures := 0
	for {
		full, err := s.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var c errCrash
		if errors.As(err, &c) {
			return err
		}
		wait := s.cfg.CommitDelay
		switch {
		case err != nil:
			failures++
			s.metrics.rpcErrors.Inc()
			wait = min(s.cfg.RetryBase<<min(failures-1, 20), s.cfg.MaxBackoff)
			s.log.Warn("packer step failed", "err", err, "retry_in", wait)
		case full:
			failures, wait = 0, 0
		default:
			failures = 0
		}
		if !sleep(ctx, wait) {
			return nil
		}
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// step finishes the open batches, then makes and anchors a new one. It
// reports whether the new batch was full (more messages may be waiting).
func (s *Service) step(ctx context.Context) (bool, error) {
	if s.chainID == nil {
		id, err := s.client.ChainID(ctx)
		if err != nil {
			return false, fmt.Errorf("chain id: %w", err)
		}
		s.chainID = id
	}
	open, err := s.node.Store().OpenBatches(ctx, Chain)
	if err != nil {
		return false, err
	}
	for i := range open {
		if err := s.finish(ctx, &open[i]); err != nil {
			return false, err
		}
	}
	recs, err := s.node.Store().Unanchored(ctx, s.cfg.MaxMessages)
	if err != nil || len(recs) == 0 {
		return false, err
	}
	b, full, err := s.record(ctx, recs)
	if err != nil {
		return false, err
	}
	if err := s.crash(AfterRecord); err != nil {
		return false, err
	}
	return full || b.Count == s.cfg.MaxMessages, s.finish(ctx, b)
}

// archiveMessage is a message as the reference writes it in an archive:
// every envelope field, null where absent, no content.
type archiveMessage struct {
	Sender      string  `json:"sender"`
	Chain       string  `json:"chain"`
	Signature   string  `json:"signature"`
	Type        string  `json:"type"`
	ItemContent *string `json:"item_content"`
	ItemType    string  `json:"item_type"`
	ItemHash    string  `json:"item_hash"`
	Time        float64 `json:"time"`
	Channel     *string `json:"channel"`
}

// Archive returns the archive file of spec §7.1 holding recs, in order, as
// many of them as fit in ethreader.MaxPayload bytes, and how many those
// are.
func Archive(recs []store.Record) ([]byte, int, error) {
	const head, tail = `{"protocol":"aleph","version":1,"content":{"messages":[`, `]}}`
	var buf bytes.Buffer
	buf.WriteString(head)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	n := 0
	for i := range recs {
		r := &recs[i]
		m := archiveMessage{Sender: r.Sender, Chain: r.Chain, Signature: r.Signature, Type: string(r.Type),
			ItemType: string(r.ItemType), ItemHash: r.ItemHash, Time: r.Time}
		if r.ItemContent != "" {
			m.ItemContent = &r.ItemContent
		}
		if r.Channel != "" {
			m.Channel = &r.Channel
		}
		mark := buf.Len()
		if n > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(&m); err != nil {
			return nil, 0, err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		if buf.Len()+len(tail) > ethreader.MaxPayload {
			buf.Truncate(mark)
			break
		}
		n++
	}
	buf.WriteString(tail)
	return buf.Bytes(), n, nil
}

// record writes the archive of recs to the file store and records the
// batch, pinning the archive, in one transaction. It reports whether the
// archive was cut short by its size limit.
func (s *Service) record(ctx context.Context, recs []store.Record) (*store.Batch, bool, error) {
	data, n, err := Archive(recs)
	if err != nil {
		return nil, false, err
	}
	if n == 0 {
		return nil, false, fmt.Errorf("message %s alone exceeds the archive size limit", recs[0].ItemHash)
	}
	info, err := s.node.Files().Add(ctx, files.IPFS, bytes.NewReader(data), files.AddOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("store archive: %w", err)
	}
	now := unixNow()
	b := &store.Batch{Chain: Chain, Archive: info.Hash, Count: n, State: store.BatchPending, Created: now, Updated: now}
	items := make([]string, n)
	for i := range items {
		items[i] = recs[i].ItemHash
	}
	err = s.node.Store().Update(ctx, func(tx store.Tx) error {
		if err := tx.UpsertFile(&store.File{Hash: info.Hash, Size: info.Size, Type: "file"}); err != nil {
			return err
		}
		if err := tx.AddPin(&store.Pin{FileHash: info.Hash, Type: store.PinTx, Created: now}); err != nil {
			return err
		}
		return tx.InsertBatch(b, items)
	})
	if err != nil {
		return nil, false, fmt.Errorf("record batch: %w", err)
	}
	s.log.Info("batch recorded", "batch", b.ID, "archive", b.Archive, "messages", n, "bytes", len(data))
	return b, n < len(recs), nil
}

func unixNow() float64 { return float64(time.Now().UnixNano()) / 1e9 }

// pointer is the SyncEvent payload pointing at an archive.
func pointer(cid string) string {
	return `{"protocol":"aleph-offchain","version":1,"content":"` + cid + `"}`
}

// finish brings an open batch to confirmed: it signs its transaction if it
// has none, then follows it.
func (s *Service) finish(ctx context.Context, b *store.Batch) error {
	for {
		if b.State == store.BatchPending {
			if err := s.sign(ctx, b); err != nil {
				return err
			}
			if err := s.crash(AfterSign); err != nil {
				return err
			}
		}
		resign, err := s.follow(ctx, b)
		if err != nil || !resign {
			return err
		}
		// The nonce went to another transaction (or ours reverted):
		// the batch is not on chain, sign it again.
		s.log.Warn("batch transaction not mined, signing it again", "batch", b.ID, "tx", b.TxHash, "nonce", b.Nonce)
		b.State = store.BatchPending
	}
}

// sign builds doEmit(pointer) with the account's pending nonce, estimated
// gas and current fees, signs it and records it in the batch (state sent)
// before anything is broadcast.
func (s *Service) sign(ctx context.Context, b *store.Batch) error {
	data := s.sync.PackDoEmit(pointer(b.Archive))
	nonce, err := s.client.PendingNonceAt(ctx, s.from)
	if err != nil {
		return fmt.Errorf("pending nonce: %w", err)
	}
	gas, err := s.client.EstimateGas(ctx, ethereum.CallMsg{From: s.from, To: &s.contract, Data: data})
	if err != nil {
		return fmt.Errorf("estimate gas: %w", err)
	}
	tip, err := s.client.SuggestGasTipCap(ctx)
	if err != nil {
		return fmt.Errorf("gas tip: %w", err)
	}
	head, err := s.client.HeaderByNumber(ctx, nil)
	if err != nil {
		return fmt.Errorf("head: %w", err)
	}
	feeCap := new(big.Int).Add(tip, new(big.Int).Mul(head.BaseFee, big.NewInt(2)))
	tx, err := types.SignNewTx(s.key, types.LatestSignerForChainID(s.chainID), &types.DynamicFeeTx{
		ChainID: s.chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas + gas/5,
		To: &s.contract, Data: data,
	})
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		return err
	}
	b.State, b.TxHash, b.Nonce, b.RawTx, b.Updated = store.BatchSent, tx.Hash().Hex(), nonce, hexutil.Encode(raw), unixNow()
	if err := s.node.Store().Update(ctx, func(t store.Tx) error { return t.UpdateBatch(b) }); err != nil {
		return fmt.Errorf("record transaction: %w", err)
	}
	s.metrics.sent.Inc()
	s.log.Info("batch transaction signed", "batch", b.ID, "tx", b.TxHash, "nonce", nonce, "gas", tx.Gas())
	return nil
}

// follow broadcasts b's recorded transaction until it is mined and
// Confirmations blocks deep, then records the batch confirmed. It reports
// resign when the transaction can never be mined (its nonce was used by
// another one) or reverted.
func (s *Service) follow(ctx context.Context, b *store.Batch) (resign bool, err error) {
	var tx types.Transaction
	raw, err := hexutil.Decode(b.RawTx)
	if err == nil {
		err = tx.UnmarshalBinary(raw)
	}
	if err != nil {
		return true, nil // an unreadable record: sign again (same nonce if unused)
	}
	s.metrics.pending.Set(1)
	defer s.metrics.pending.Set(0)
	for {
		r, err := s.client.TransactionReceipt(ctx, tx.Hash())
		switch {
		case err == nil && r.Status != types.ReceiptStatusSuccessful:
			return true, nil
		case err == nil:
			head, err := s.client.BlockNumber(ctx)
			if err != nil {
				return false, fmt.Errorf("block number: %w", err)
			}
			if head+1 >= r.BlockNumber.Uint64()+uint64(s.cfg.Confirmations) {
				return false, s.confirmed(ctx, b, r)
			}
		case errors.Is(err, ethereum.NotFound):
			if resign, err := s.broadcast(ctx, &tx); err != nil || resign {
				return resign, err
			}
		default:
			return false, fmt.Errorf("receipt: %w", err)
		}
		if !sleep(ctx, s.cfg.FollowInterval) {
			return false, ctx.Err()
		}
	}
}

// broadcast sends tx (again). A pool that already knows it is fine; a
// nonce already used is the end of tx when no receipt of it exists.
func (s *Service) broadcast(ctx context.Context, tx *types.Transaction) (resign bool, err error) {
	err = s.client.SendTransaction(ctx, tx)
	if err == nil || strings.Contains(err.Error(), "already known") {
		return false, nil
	}
	if !strings.Contains(err.Error(), "nonce too low") {
		return false, fmt.Errorf("send: %w", err)
	}
	if _, rerr := s.client.TransactionReceipt(ctx, tx.Hash()); rerr == nil {
		return false, nil // mined meanwhile
	} else if !errors.Is(rerr, ethereum.NotFound) {
		return false, fmt.Errorf("receipt: %w", rerr)
	}
	return true, nil
}

func (s *Service) confirmed(ctx context.Context, b *store.Batch, r *types.Receipt) error {
	b.State, b.Height, b.GasUsed, b.Updated = store.BatchConfirmed, r.BlockNumber.Uint64(), r.GasUsed, unixNow()
	if err := s.node.Store().Update(ctx, func(t store.Tx) error { return t.UpdateBatch(b) }); err != nil {
		return fmt.Errorf("record confirmation: %w", err)
	}
	s.metrics.batches.Inc()
	s.metrics.messages.Add(float64(b.Count))
	s.metrics.gas.Add(float64(r.GasUsed))
	s.log.Info("batch anchored", "batch", b.ID, "tx", b.TxHash, "height", b.Height, "messages", b.Count, "gas", r.GasUsed)
	return nil
}
