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

	"github.com/goaleph/goaleph/internal/chain/ethcontracts"
	"github.com/goaleph/goaleph/internal/chain/ethreader"
	"github.com/goaleph/goaleph/internal/chain/ethrpc"
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
	client   *ethrpc.Client
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
	client, err := ethrpc.Dial(ctx, cfg.RPC, ethrpc.Options{Chain: Chain, Service: "packer", Timeout: cfg.RPCTimeout})
	if err != nil {
		return nil, fmt.Errorf("packer: %w", err)
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
		case errors.Is(err, ErrGasPrice):
			// Counted and logged by sign; the batch waits for cheaper gas.
			failures = 0
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

// ErrGasPrice is returned when the chain's gas price is above the
// configured ceiling (Config.MaxGasPrice): nothing is sent, the batch
// waits.
var ErrGasPrice = errors.New("gas price above the ceiling")

// sign builds doEmit(pointer) with the account's pending nonce, estimated
// gas and current fees, signs it and records it in the batch (state sent)
// before anything is broadcast. It refuses (ErrGasPrice) when the next
// block's base fee plus the suggested tip is above the ceiling.
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
	tip, base, err := s.fees(ctx)
	if err != nil {
		return err
	}
	if price := new(big.Int).Add(base, tip); s.aboveCeiling(price) {
		s.refuse(b, "sign", price)
		return fmt.Errorf("batch %d: %w (%s wei > %s wei)", b.ID, ErrGasPrice, price, s.cfg.maxGasPrice)
	}
	feeCap := s.capped(new(big.Int).Add(tip, new(big.Int).Mul(base, big.NewInt(2))))
	tx, err := s.signTx(&types.DynamicFeeTx{
		ChainID: s.chainID, Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: gas + gas/5,
		To: &s.contract, Data: data,
	})
	if err != nil {
		return err
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
	s.log.Info("batch transaction signed", "batch", b.ID, "tx", b.TxHash, "nonce", nonce, "gas", tx.Gas(),
		"max_fee", feeCap, "tip", tip)
	return nil
}

// fees returns the tip the node suggests and the base fee of the head.
func (s *Service) fees(ctx context.Context) (tip, base *big.Int, err error) {
	tip, err = s.client.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("gas tip: %w", err)
	}
	head, err := s.client.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("head: %w", err)
	}
	base = head.BaseFee
	if base == nil {
		base = new(big.Int) // a chain without EIP-1559
	}
	return tip, base, nil
}

func (s *Service) signTx(d *types.DynamicFeeTx) (*types.Transaction, error) {
	tx, err := types.SignNewTx(s.key, types.LatestSignerForChainID(s.chainID), d)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return tx, nil
}

// aboveCeiling tells whether a gas price (wei) is above the ceiling.
func (s *Service) aboveCeiling(price *big.Int) bool {
	return s.cfg.maxGasPrice != nil && price.Cmp(s.cfg.maxGasPrice) > 0
}

// capped returns the fee cap v, lowered to the ceiling.
func (s *Service) capped(v *big.Int) *big.Int {
	if s.aboveCeiling(v) {
		return new(big.Int).Set(s.cfg.maxGasPrice)
	}
	return v
}

// refuse counts and logs a transaction not sent because of the ceiling.
func (s *Service) refuse(b *store.Batch, step string, price *big.Int) {
	s.metrics.refused.Inc()
	s.log.Warn("gas price above the ceiling: batch waits", "batch", b.ID, "step", step, "price_wei", price,
		"max_gas_price_wei", s.cfg.maxGasPrice)
}

// rawTxs returns the signed transactions recorded in b (all with b's
// nonce: the first one and its replacements, newest last).
func rawTxs(b *store.Batch) ([]*types.Transaction, error) {
	var out []*types.Transaction
	for _, h := range strings.Split(b.RawTx, ",") {
		raw, err := hexutil.Decode(h)
		if err != nil {
			return nil, err
		}
		tx := new(types.Transaction)
		if err := tx.UnmarshalBinary(raw); err != nil {
			return nil, err
		}
		out = append(out, tx)
	}
	return out, nil
}

// bump replaces b's newest transaction by one with the same nonce and fees
// raised by 1/8 (nodes want at least 1/10 to replace), or to what the
// chain asks now if more; it is recorded before it is broadcast. It
// returns nil (and keeps waiting) when the ceiling leaves no room for a
// valid replacement.
func (s *Service) bump(ctx context.Context, b *store.Batch, last *types.Transaction) (*types.Transaction, error) {
	tip, base, err := s.fees(ctx)
	if err != nil {
		return nil, err
	}
	raise := func(v *big.Int) *big.Int { // v + v/8 + 1
		return new(big.Int).Add(v, new(big.Int).Add(new(big.Int).Rsh(v, 3), big.NewInt(1)))
	}
	newTip := bigMax(raise(last.GasTipCap()), tip)
	feeCap := bigMax(raise(last.GasFeeCap()), new(big.Int).Add(newTip, new(big.Int).Mul(base, big.NewInt(2))))
	feeCap = s.capped(feeCap)
	// The least a node takes as a replacement: +10 % on both.
	least := func(v *big.Int) *big.Int {
		return new(big.Int).Add(v, new(big.Int).Div(new(big.Int).Add(v, big.NewInt(9)), big.NewInt(10)))
	}
	if feeCap.Cmp(least(last.GasFeeCap())) < 0 {
		s.refuse(b, "bump", feeCap)
		return nil, nil
	}
	if newTip.Cmp(feeCap) > 0 {
		newTip = new(big.Int).Set(feeCap)
	}
	if newTip.Cmp(least(last.GasTipCap())) < 0 {
		s.refuse(b, "bump", feeCap)
		return nil, nil
	}
	tx, err := s.signTx(&types.DynamicFeeTx{
		ChainID: s.chainID, Nonce: last.Nonce(), GasTipCap: newTip, GasFeeCap: feeCap, Gas: last.Gas(),
		To: last.To(), Data: last.Data(),
	})
	if err != nil {
		return nil, err
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		return nil, err
	}
	rec := *b
	rec.TxHash, rec.RawTx, rec.Updated = tx.Hash().Hex(), b.RawTx+","+hexutil.Encode(raw), unixNow()
	if err := s.node.Store().Update(ctx, func(t store.Tx) error { return t.UpdateBatch(&rec) }); err != nil {
		return nil, fmt.Errorf("record replacement: %w", err)
	}
	*b = rec
	s.metrics.sent.Inc()
	s.metrics.replaced.Inc()
	s.log.Info("stuck batch transaction replaced", "batch", b.ID, "tx", b.TxHash, "replaces", last.Hash().Hex(),
		"nonce", tx.Nonce(), "max_fee", feeCap, "tip", newTip)
	return tx, nil
}

func bigMax(a, b *big.Int) *big.Int {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}

// follow broadcasts b's recorded transaction until it (or a replacement
// of it) is mined and Confirmations blocks deep, then records the batch
// confirmed. A transaction still not mined BumpBlocks blocks after it was
// first broadcast is replaced with higher fees. It reports resign when
// none of the batch's transactions can be mined any more (their nonce
// was used by another one) or the mined one reverted.
func (s *Service) follow(ctx context.Context, b *store.Batch) (resign bool, err error) {
	txs, err := rawTxs(b)
	if err != nil {
		return true, nil // an unreadable record: sign again (same nonce if unused)
	}
	s.metrics.pending.Set(1)
	defer s.metrics.pending.Set(0)
	var since uint64 // head when the newest transaction was first broadcast (0: not yet)
	for {
		r, err := s.receipt(ctx, txs)
		if err != nil {
			return false, err
		}
		head, err := s.client.BlockNumber(ctx)
		if err != nil {
			return false, fmt.Errorf("block number: %w", err)
		}
		switch {
		case r != nil && r.Status != types.ReceiptStatusSuccessful:
			return true, nil
		case r != nil:
			if head+1 >= r.BlockNumber.Uint64()+uint64(s.cfg.Confirmations) {
				return false, s.confirmed(ctx, b, r)
			}
		case since != 0 && s.cfg.BumpBlocks > 0 && head >= since+uint64(s.cfg.BumpBlocks):
			tx, err := s.bump(ctx, b, txs[len(txs)-1])
			if err != nil {
				return false, err
			}
			if tx != nil {
				txs = append(txs, tx)
				since = 0
				continue
			}
			since = head // no room under the ceiling: look again later
		default:
			if resign, err := s.broadcast(ctx, txs); err != nil || resign {
				return resign, err
			}
			if since == 0 {
				since = max(head, 1)
			}
		}
		if !sleep(ctx, s.cfg.FollowInterval) {
			return false, ctx.Err()
		}
	}
}

// receipt returns the receipt of the one of txs that is mined, or nil.
func (s *Service) receipt(ctx context.Context, txs []*types.Transaction) (*types.Receipt, error) {
	for i := len(txs) - 1; i >= 0; i-- {
		r, err := s.client.TransactionReceipt(ctx, txs[i].Hash())
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ethereum.NotFound) {
			return nil, fmt.Errorf("receipt: %w", err)
		}
	}
	return nil, nil
}

// broadcast sends the newest of txs (again). A pool that already knows it
// is fine; a nonce already used is the end of the batch's transactions
// when none of them has a receipt.
func (s *Service) broadcast(ctx context.Context, txs []*types.Transaction) (resign bool, err error) {
	err = s.client.SendTransaction(ctx, txs[len(txs)-1])
	if err == nil || ethrpc.KnownTx(err) {
		return false, nil
	}
	if !ethrpc.NonceTooLow(err) {
		return false, fmt.Errorf("send: %w", err)
	}
	if r, err := s.receipt(ctx, txs); err != nil || r != nil {
		return false, err // mined meanwhile: the next look sees it
	}
	return true, nil
}

func (s *Service) confirmed(ctx context.Context, b *store.Batch, r *types.Receipt) error {
	b.State, b.TxHash, b.Height, b.GasUsed, b.Updated = store.BatchConfirmed, r.TxHash.Hex(), r.BlockNumber.Uint64(), r.GasUsed, unixNow()
	if err := s.node.Store().Update(ctx, func(t store.Tx) error { return t.UpdateBatch(b) }); err != nil {
		return fmt.Errorf("record confirmation: %w", err)
	}
	s.metrics.batches.Inc()
	s.metrics.messages.Add(float64(b.Count))
	s.metrics.gas.Add(float64(r.GasUsed))
	if r.EffectiveGasPrice != nil {
		fee := new(big.Int).Mul(r.EffectiveGasPrice, new(big.Int).SetUint64(r.GasUsed))
		s.metrics.fees.Add(weiFloat(fee))
		s.metrics.price.Set(weiFloat(r.EffectiveGasPrice))
	}
	s.log.Info("batch anchored", "batch", b.ID, "tx", b.TxHash, "height", b.Height, "messages", b.Count, "gas", r.GasUsed)
	return nil
}
