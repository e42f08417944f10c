package node

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// The pipeline: ingest (durable pending rows, group-committed) → verify
// (signatures and content, N workers) → apply (one writer, batched
// transactions, deterministic order inside a batch). Retries wait on a
// timer, and on the missing hash when there is one.

const (
	maxIngestBatch = 4096
	maxApplyBatch  = 2048
	// maxContentSize bounds a fetched non-inline content file.
	maxContentSize = 25 << 20
)

type ingestReq struct {
	p    *store.Pending
	done chan error
}

// result is the final (or first retry) outcome reported to a waiting submitter.
type result struct {
	status store.Status
	err    error
}

// flight tracks the submitters waiting on one hash.
type flight struct{ waiters []chan result }

type outcomeKind int

const (
	outProcessed outcomeKind = iota
	outDuplicate
	outForgotten
	outRejected
	outRetry
)

type outcome struct {
	kind    outcomeKind
	err     error
	rec     *store.Record
	retryAt float64
	wait    string
}

// runIngest group-commits pending messages: whatever arrived while the
// previous transaction was committing goes into the next one.
func (n *Node) runIngest(ctx context.Context) error {
	batch := make([]*ingestReq, 0, maxIngestBatch)
	ps := make([]*store.Pending, 0, maxIngestBatch)
	for {
		batch, ps = batch[:0], ps[:0]
		select {
		case <-ctx.Done():
			return nil
		case r := <-n.ingestCh:
			batch = append(batch, r)
		}
	drain:
		for len(batch) < maxIngestBatch {
			select {
			case r := <-n.ingestCh:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		for _, r := range batch {
			ps = append(ps, r.p)
		}
		err := n.store.AddPending(ctx, ps)
		n.metrics.ingestBatch.Observe(float64(len(batch)))
		for _, r := range batch {
			r.done <- err
		}
		if err != nil {
			n.log.Error("ingest", "err", err)
			continue
		}
		for _, p := range ps {
			if p.ID == 0 {
				continue // same copy already pending
			}
			n.metrics.ingested.Inc()
			select {
			case n.verifyCh <- &item{p: *p, msg: p.Message}:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// runVerify checks signatures and fetches content; failures are recorded
// by the applier, the only writer.
func (n *Node) runVerify(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case it := <-n.verifyCh:
			it.err = n.prepare(ctx, it)
			it.verified = it.err == nil
			select {
			case n.applyCh <- it:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// prepare verifies the signature and loads and validates the content.
func (n *Node) prepare(ctx context.Context, it *item) error {
	m := it.msg
	if err := chain.Verify(m.Chain, m.Sender, m.VerificationBuffer(), m.Signature); err != nil {
		if errors.Is(err, chain.ErrUnsupportedChain) {
			return &message.Error{Code: message.CodeInvalidFormat, Err: err}
		}
		return &message.Error{Code: message.CodeInvalidSignature, Err: err}
	}
	if it.content != nil {
		return nil
	}
	var raw []byte
	if m.ItemType == message.ItemInline {
		raw = []byte(m.ItemContent)
		it.size = inlineSize(m.ItemContent)
	} else {
		f, err := n.files.Open(ctx, m.ItemHash)
		if errors.Is(err, files.ErrNotFound) {
			return missing(message.CodeContentUnavailable, m.ItemHash)
		}
		if err != nil {
			return &message.Error{Code: message.CodeContentUnavailable, Err: err}
		}
		raw, err = io.ReadAll(io.LimitReader(f, maxContentSize+1))
		f.Close()
		if err != nil {
			return &message.Error{Code: message.CodeContentUnavailable, Err: err}
		}
		if len(raw) > maxContentSize {
			return message.Errorf(message.CodeInvalidFormat, "content file larger than %d bytes", maxContentSize)
		}
		it.size = int64(len(raw))
	}
	c, err := message.ParseContent(m, raw)
	if err != nil {
		return err
	}
	it.content = c
	return nil
}

// runApply is the single writer.
func (n *Node) runApply(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		batch := n.takeReady(time.Now())
		if len(batch) == 0 {
			timer.Reset(n.nextTimer())
			select {
			case <-ctx.Done():
				return nil
			case it := <-n.applyCh:
				batch = append(batch, it)
			case <-n.wakeCh:
				continue
			case <-timer.C:
				continue
			}
		}
	drain:
		for len(batch) < maxApplyBatch {
			select {
			case it := <-n.applyCh:
				batch = append(batch, it)
			default:
				break drain
			}
		}
		n.applyBatch(ctx, batch)
	}
}

// takeReady returns woken and due items that are verified; due items that
// still need verification are sent back to the verifiers.
func (n *Node) takeReady(now time.Time) []*item {
	n.mu.Lock()
	ready := n.ready
	n.ready = nil
	t := float64(now.UnixNano()) / 1e9
	var again []*item
	for n.timers.Len() > 0 && n.timers[0].at <= t {
		e := heap.Pop(&n.timers).(timerEntry)
		if e.it.gen != e.gen {
			continue
		}
		e.it.gen++
		if e.it.verified {
			ready = append(ready, e.it)
		} else {
			again = append(again, e.it)
		}
	}
	n.mu.Unlock()
	for _, it := range again {
		go func() { n.verifyCh <- it }()
	}
	return ready
}

func (n *Node) nextTimer() time.Duration {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.timers.Len() == 0 {
		return time.Hour
	}
	d := time.Until(time.Unix(0, int64(n.timers[0].at*1e9)))
	return max(d, time.Millisecond)
}

// applyBatch applies items in one transaction, in a deterministic order.
// If the transaction fails, each item is retried in its own.
func (n *Node) applyBatch(ctx context.Context, batch []*item) {
	sort.SliceStable(batch, func(i, j int) bool {
		a, b := batch[i].msg, batch[j].msg
		if a.Time != b.Time {
			return a.Time < b.Time
		}
		return a.ItemHash < b.ItemHash
	})
	start := time.Now()
	outs := make([]outcome, len(batch))
	err := n.store.Update(ctx, func(tx store.Tx) error {
		for i, it := range batch {
			it.forgot = it.forgot[:0]
			o, err := n.applyOne(ctx, tx, it)
			if err != nil {
				return err
			}
			outs[i] = o
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if len(batch) > 1 {
			for _, it := range batch {
				n.applyBatch(ctx, []*item{it})
			}
			return
		}
		// A single item whose transaction fails: retry it later as an
		// internal error.
		it := batch[0]
		n.log.Warn("apply failed", "item_hash", it.msg.ItemHash, "err", err)
		var o outcome
		uerr := n.store.Update(ctx, func(tx store.Tx) error {
			var e error
			o, e = n.retryOrReject(tx, it, &message.Error{Code: message.CodeInternalError, Err: err})
			return e
		})
		if uerr != nil {
			n.log.Error("record retry", "item_hash", it.msg.ItemHash, "err", uerr)
			return
		}
		outs = []outcome{o}
	}
	n.metrics.applyBatch.Observe(float64(len(batch)))
	n.metrics.applySeconds.Observe(time.Since(start).Seconds())
	for i, it := range batch {
		n.finish(it, outs[i])
	}
}

// applyOne processes one item inside the batch transaction. A returned
// error aborts the transaction; protocol outcomes are in the outcome.
func (n *Node) applyOne(ctx context.Context, tx store.Tx, it *item) (outcome, error) {
	m := it.msg
	if existing, err := tx.Message(ctx, m.ItemHash); err == nil {
		if err := tx.DeletePending(it.p.ID); err != nil {
			return outcome{}, err
		}
		if existing.Signature != m.Signature {
			return outcome{kind: outRejected, err: message.Errorf(message.CodeInvalidSignature, "a copy with another signature is processed")}, nil
		}
		return outcome{kind: outDuplicate, rec: existing}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return outcome{}, err
	}
	if _, err := tx.Forgotten(ctx, m.ItemHash); err == nil {
		if err := tx.DeletePending(it.p.ID); err != nil {
			return outcome{}, err
		}
		return outcome{kind: outForgotten, err: message.Errorf(message.CodeForgottenDuplicate, "message was forgotten")}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return outcome{}, err
	}
	if it.err != nil {
		return n.retryOrReject(tx, it, it.err)
	}
	h := n.handlers[m.Type]
	if err := h.check(ctx, tx, it); err != nil {
		var me *message.Error
		if !errors.As(err, &me) {
			return outcome{}, err
		}
		return n.retryOrReject(tx, it, me)
	}
	rec := it.record()
	if _, err := tx.InsertMessage(rec); err != nil {
		return outcome{}, err
	}
	if err := tx.DeletePending(it.p.ID); err != nil {
		return outcome{}, err
	}
	if m.ItemType != message.ItemInline {
		if err := tx.UpsertFile(&store.File{Hash: m.ItemHash, Size: it.size, Type: "file"}); err != nil {
			return outcome{}, err
		}
		if err := tx.AddPin(&store.Pin{FileHash: m.ItemHash, Type: store.PinContent, Owner: m.Sender,
			ItemHash: m.ItemHash, Created: it.content.Time}); err != nil {
			return outcome{}, err
		}
	}
	if err := h.apply(ctx, tx, it); err != nil {
		return outcome{}, err
	}
	return outcome{kind: outProcessed, rec: rec}, nil
}

// retryOrReject records a failed attempt: a retryable code schedules the
// next attempt until MaxRetries, then the message is rejected with it.
func (n *Node) retryOrReject(tx store.Tx, it *item, err error) (outcome, error) {
	code := message.CodeOf(err)
	if code.Retry() && it.p.Retries < n.cfg.MaxRetries {
		it.p.Retries++
		backoff := math.Min(math.Pow(2, float64(it.p.Retries)), n.cfg.MaxBackoff.Seconds())
		at := float64(time.Now().UnixNano())/1e9 + backoff*(0.5+rand.Float64()/2)
		if err := tx.RetryPending(it.p.ID, it.p.Retries, at); err != nil {
			return outcome{}, err
		}
		return outcome{kind: outRetry, err: err, retryAt: at, wait: missingHash(err)}, nil
	}
	env, _ := json.Marshal(it.msg)
	var details json.RawMessage
	var me *message.Error
	if errors.As(err, &me) && me.Details != nil {
		details, _ = json.Marshal(me.Details)
	} else {
		details, _ = json.Marshal(map[string]any{"errors": []string{err.Error()}})
	}
	if err := tx.Reject(&store.Rejected{ItemHash: it.msg.ItemHash, Message: env, ErrorCode: code,
		Details: details, ReceptionTime: it.p.ReceptionTime}); err != nil {
		return outcome{}, err
	}
	if err := tx.DeletePending(it.p.ID); err != nil {
		return outcome{}, err
	}
	return outcome{kind: outRejected, err: err}, nil
}

// finish reports an outcome after its transaction committed.
func (n *Node) finish(it *item, o outcome) {
	hash := it.msg.ItemHash
	switch o.kind {
	case outProcessed:
		n.metrics.processed.WithLabelValues(string(it.msg.Type)).Inc()
		n.bus.publish(o.rec)
		n.complete(hash, result{status: store.StatusProcessed})
		n.wake(hash)
		if a := it.content.Aggregate; a != nil {
			n.wake("aggregate:" + it.content.Address + "/" + a.Key)
		}
		if s := it.content.Store; s != nil {
			n.wake(s.ItemHash)
		}
	case outDuplicate:
		n.complete(hash, result{status: store.StatusProcessed})
	case outForgotten:
		n.complete(hash, result{status: store.StatusForgotten, err: o.err})
	case outRejected:
		n.metrics.rejected.WithLabelValues(message.CodeOf(o.err).String()).Inc()
		n.log.Debug("rejected", "item_hash", hash, "err", o.err)
		n.complete(hash, result{status: store.StatusRejected, err: o.err})
	case outRetry:
		n.metrics.retries.WithLabelValues(message.CodeOf(o.err).String()).Inc()
		n.mu.Lock()
		it.gen++
		heap.Push(&n.timers, timerEntry{at: o.retryAt, it: it, gen: it.gen})
		if o.wait != "" {
			n.waits[o.wait] = append(n.waits[o.wait], timerEntry{it: it, gen: it.gen})
		}
		if f := n.inflight[hash]; f != nil {
			for _, w := range f.waiters {
				w <- result{status: store.StatusPending}
			}
			f.waiters = nil
		}
		n.mu.Unlock()
	}
}

// complete ends the flight of hash, answering its waiters.
func (n *Node) complete(hash string, r result) {
	n.mu.Lock()
	f := n.inflight[hash]
	delete(n.inflight, hash)
	n.mu.Unlock()
	if f != nil {
		for _, w := range f.waiters {
			w <- r
		}
	}
}

// wake makes the items waiting on key ready for the applier at once.
func (n *Node) wake(key string) {
	n.mu.Lock()
	ws := n.waits[key]
	if ws == nil {
		n.mu.Unlock()
		return
	}
	delete(n.waits, key)
	for _, e := range ws {
		if e.it.gen != e.gen {
			continue // already retried by its timer
		}
		e.it.gen++
		if e.it.verified {
			n.ready = append(n.ready, e.it)
		} else {
			it := e.it
			go func() { n.verifyCh <- it }()
		}
	}
	n.mu.Unlock()
	select {
	case n.wakeCh <- struct{}{}:
	default:
	}
}

// timerEntry schedules an item; it is stale when gen moved on.
type timerEntry struct {
	at  float64
	it  *item
	gen int
}

type timerHeap []timerEntry

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timerEntry)) }
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
