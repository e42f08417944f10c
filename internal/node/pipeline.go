package node

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/internal/api"
	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// The pipeline: the API handler parses the envelope, verifies the
// signature and loads the content in its own goroutine (so verification
// runs on every core), then hands the message to the single writer. The
// writer applies new messages and due retries in batches, one transaction
// per batch, in (time, hash) order, and the handler answers only once that
// transaction committed. A new message that must wait (a missing
// dependency, unavailable content) becomes a pending row in the same
// transaction; pending messages are retried on a timer, and at once when
// the hash they wait for is applied.

const (
	maxApplyBatch = 2048
	// maxContentSize bounds a fetched non-inline content file.
	maxContentSize = 25 << 20
)

// submission is a new message on its way to the writer.
type submission struct {
	it   *item
	done chan outcome // buffered; receives the outcome after commit
}

type outcomeKind int

const (
	outProcessed outcomeKind = iota
	outDuplicate             // already processed
	outForgotten             // already forgotten
	outRejected
	outRetry       // pending, will be retried
	outPendingCopy // the same copy is already pending
	outFailed      // not stored: the transaction failed
)

type outcome struct {
	kind    outcomeKind
	err     error
	rec     *store.Record
	retryAt float64
	wait    string
}

// runVerify re-verifies pending messages (loaded at start, or retried after
// their content was unavailable); failures are recorded by the writer.
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
	if it.p.Origin == store.OriginSmartContract && m.Signature == "" {
		// A smart-contract event's message: its sender is the chain's.
	} else if err := chain.VerifyMessage(m.Chain, m.Sender, m.VerificationBuffer(), m.Signature, m.Time); err != nil {
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

// reverify sends a pending item back to the verifiers without blocking
// the caller (the writer, or a waker holding n.mu). The goroutine ends
// when the item is taken or the node stops.
func (n *Node) reverify(it *item) {
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		select {
		case n.verifyCh <- it:
		case <-n.stopped:
		}
	}()
}

// errStopped is returned for submissions that arrive while the node stops.
var errStopped = fmt.Errorf("node is stopping: %w", api.ErrUnavailable)

// runApply is the single writer. When it returns, submissions still queued
// are answered with errStopped (they were not stored).
func (n *Node) runApply(ctx context.Context) error {
	defer func() {
		close(n.stopped)
		for {
			select {
			case s := <-n.submitCh:
				s.done <- outcome{kind: outFailed, err: errStopped}
			default:
				return
			}
		}
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var subs []*submission
	for {
		subs = subs[:0]
		batch := n.takeReady(time.Now())
		if len(batch) == 0 {
			timer.Reset(n.nextTimer())
			select {
			case <-ctx.Done():
				return nil
			case s := <-n.submitCh:
				subs = append(subs, s)
			case it := <-n.applyCh:
				batch = append(batch, it)
			case <-n.wakeCh:
				continue
			case <-timer.C:
				continue
			}
		}
	drain:
		for len(batch)+len(subs) < maxApplyBatch {
			select {
			case s := <-n.submitCh:
				subs = append(subs, s)
			case it := <-n.applyCh:
				batch = append(batch, it)
			default:
				break drain
			}
		}
		outs := n.applyBatch(ctx, append(batch, itemsOf(subs)...))
		for i, s := range subs {
			s.done <- outs[len(batch)+i]
		}
	}
}

func itemsOf(subs []*submission) []*item {
	out := make([]*item, len(subs))
	for i, s := range subs {
		out[i] = s.it
	}
	return out
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
		n.reverify(it)
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

// applyBatch applies items in one transaction, in a deterministic order,
// and returns their outcomes in the order given. If the transaction fails,
// each item is tried in its own, unless the database is unreachable: then
// new items get a 503 and pending ones are parked (see dbhealth.go).
func (n *Node) applyBatch(ctx context.Context, items []*item) []outcome {
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := items[order[i]].msg, items[order[j]].msg
		if a.Time != b.Time {
			return a.Time < b.Time
		}
		return a.ItemHash < b.ItemHash
	})
	start := time.Now()
	outs := make([]outcome, len(items))
	// A failed transaction undoes what it wrote, not what it set on the
	// items (a pending ID, a retry count): saved restores that.
	saved := make([]store.Pending, len(items))
	for i, it := range items {
		saved[i] = it.p
	}
	err := n.store.Update(ctx, func(tx store.Tx) error {
		if p, ok := tx.(seenPreloader); ok {
			hashes := make([]string, len(items))
			for i, it := range items {
				hashes[i] = it.msg.ItemHash
			}
			if err := p.PreloadSeen(hashes); err != nil {
				return err
			}
		}
		for _, i := range order {
			it := items[i]
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
		n.econ.invalidate() // the failed transaction may have loaded prices it applied
		for i, it := range items {
			it.p = saved[i]
		}
		if ctx.Err() != nil {
			for i := range outs {
				outs[i] = outcome{kind: outFailed, err: ctx.Err()}
			}
			return outs
		}
		if errors.Is(err, store.ErrUnavailable) {
			n.dbFailed(err)
			for i, it := range items {
				outs[i] = n.postpone(it, err)
			}
			return outs
		}
		if len(items) > 1 {
			for i, it := range items {
				outs[i] = n.applyBatch(ctx, []*item{it})[0]
			}
			return outs
		}
		return []outcome{n.applyFailed(ctx, items[0], err)}
	}
	n.dbOK()
	n.metrics.applyBatch.Observe(float64(len(items)))
	n.metrics.applySeconds.Observe(time.Since(start).Seconds())
	for i, it := range items {
		n.finish(it, outs[i])
	}
	return outs
}

// postpone answers an item that could not reach the database: a new one
// is not stored and its submitter gets a 503; a pending one is parked
// until the database is back (its outcome is not sent anywhere).
func (n *Node) postpone(it *item, err error) outcome {
	if it.p.ID == 0 {
		return outcome{kind: outFailed, err: unavailable(err)}
	}
	n.park(it)
	return outcome{kind: outFailed, err: err}
}

// seenPreloader is implemented by store transactions that answer Seen for
// a whole batch with one query (the PostgreSQL backend, where each query is
// a round trip).
type seenPreloader interface {
	PreloadSeen(hashes []string) error
}

// applyFailed handles an item whose own transaction failed: a pending
// message is retried later as an internal error; a new one is not stored
// and its submitter gets the error.
func (n *Node) applyFailed(ctx context.Context, it *item, err error) outcome {
	n.log.Warn("apply failed", "item_hash", it.msg.ItemHash, "err", err)
	if it.p.ID == 0 {
		return outcome{kind: outFailed, err: err}
	}
	var o outcome
	saved := it.p
	uerr := n.store.Update(ctx, func(tx store.Tx) error {
		var e error
		o, e = n.retryOrReject(tx, it, &message.Error{Code: message.CodeInternalError, Err: err})
		return e
	})
	if uerr != nil {
		it.p = saved
		switch {
		case ctx.Err() != nil:
			// Stopping: the pending row is reloaded at the next start.
		case errors.Is(uerr, store.ErrUnavailable):
			n.dbFailed(uerr)
			n.park(it)
		default:
			// Not recorded, but kept in memory: try again later.
			n.log.Error("record retry", "item_hash", it.msg.ItemHash, "err", uerr)
			n.rearm(it, n.cfg.MaxBackoff, false)
		}
		return outcome{kind: outFailed, err: uerr}
	}
	n.dbOK()
	n.finish(it, o)
	return o
}

// applyOne processes one item inside the batch transaction. A returned
// error aborts the transaction; protocol outcomes are in the outcome.
func (n *Node) applyOne(ctx context.Context, tx store.Tx, it *item) (outcome, error) {
	m := it.msg
	seen, err := tx.Seen(m.ItemHash)
	if err != nil {
		return outcome{}, err
	}
	switch {
	case seen.Processed:
		if err := n.dropPending(tx, it); err != nil {
			return outcome{}, err
		}
		if seen.Signature != m.Signature {
			return outcome{kind: outRejected, err: message.Errorf(message.CodeInvalidSignature, "a copy with another signature is processed")}, nil
		}
		return outcome{kind: outDuplicate}, nil
	case seen.Forgotten:
		if err := n.dropPending(tx, it); err != nil {
			return outcome{}, err
		}
		return outcome{kind: outForgotten, err: message.Errorf(message.CodeForgottenDuplicate, "message was forgotten")}, nil
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
	var cost *store.Cost
	if priced(m.Type) {
		var err error
		if cost, err = n.admit(ctx, tx, it); err != nil {
			var me *message.Error
			if !errors.As(err, &me) {
				return outcome{}, err
			}
			return n.retryOrReject(tx, it, me)
		}
	}
	rec := it.record()
	if _, err := tx.InsertMessage(rec); err != nil {
		return outcome{}, err
	}
	if err := n.dropPending(tx, it); err != nil {
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
	if cost != nil {
		if err := tx.PutCost(cost); err != nil {
			return outcome{}, err
		}
	}
	return outcome{kind: outProcessed, rec: rec}, nil
}

// retryOrReject records a failed attempt: a retryable code schedules the
// next attempt until MaxRetries, then the message is rejected with it.
func (n *Node) retryOrReject(tx store.Tx, it *item, err error) (outcome, error) {
	code := message.CodeOf(err)
	if (code.Retry() || errors.Is(err, errBalanceUnread)) && it.p.Retries < n.cfg.MaxRetries {
		it.p.Retries++
		backoff := math.Min(math.Pow(2, float64(it.p.Retries)), n.cfg.MaxBackoff.Seconds())
		at := float64(time.Now().UnixNano())/1e9 + backoff*(0.5+rand.Float64()/2)
		if it.p.ID == 0 {
			// A new message becomes pending.
			it.p.NextAttempt = at
			if err := tx.InsertPending(&it.p); err != nil {
				return outcome{}, err
			}
			if it.p.ID == 0 {
				return outcome{kind: outPendingCopy, err: err}, nil
			}
		} else if err := tx.RetryPending(it.p.ID, it.p.Retries, at); err != nil {
			return outcome{}, err
		}
		return outcome{kind: outRetry, err: err, retryAt: at, wait: missingHash(err)}, nil
	}
	env, details := rejectedRecord(it.msg, err)
	if err := tx.Reject(&store.Rejected{ItemHash: it.msg.ItemHash, Message: env, ErrorCode: code,
		Details: details, ReceptionTime: it.p.ReceptionTime}); err != nil {
		return outcome{}, err
	}
	if err := n.dropPending(tx, it); err != nil {
		return outcome{}, err
	}
	return outcome{kind: outRejected, err: err}, nil
}

// dropPending deletes the pending row of an item, if it has one.
func (n *Node) dropPending(tx store.Tx, it *item) error {
	if it.p.ID == 0 {
		return nil
	}
	return tx.DeletePending(it.p.ID)
}

// finish publishes an outcome after its transaction committed.
func (n *Node) finish(it *item, o outcome) {
	hash := it.msg.ItemHash
	switch o.kind {
	case outProcessed:
		n.metrics.processed.WithLabelValues(string(it.msg.Type)).Inc()
		n.bus.publish(o.rec)
		n.wake(hash)
		if a := it.content.Aggregate; a != nil {
			n.wake("aggregate:" + it.content.Address + "/" + a.Key)
		}
		if s := it.content.Store; s != nil {
			n.wake(s.ItemHash)
		}
	case outRejected:
		n.metrics.rejected.WithLabelValues(message.CodeOf(o.err).String()).Inc()
		n.log.Debug("rejected", "item_hash", hash, "err", o.err)
	case outRetry:
		n.metrics.retries.WithLabelValues(message.CodeOf(o.err).String()).Inc()
		n.mu.Lock()
		it.gen++
		heap.Push(&n.timers, timerEntry{at: o.retryAt, it: it, gen: it.gen})
		if o.wait != "" {
			n.waits[o.wait] = append(n.waits[o.wait], timerEntry{it: it, gen: it.gen})
		}
		n.mu.Unlock()
		n.fetchMissing(o)
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
			n.reverify(e.it)
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

// maxRejectedError is the longest error text kept in a rejected record.
const maxRejectedError = 512

// truncateError cuts an error text to maxRejectedError bytes.
func truncateError(s string) string {
	if len(s) <= maxRejectedError {
		return s
	}
	n := maxRejectedError
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Bounds of what a rejected record keeps of a message that passed its
// signature check (see docs/design/0008-hostile-input.md).
const (
	// maxRejectedEnvelope is the largest envelope kept whole (JSON
	// bytes); a larger one is kept without its item_content.
	maxRejectedEnvelope = 4096
	// maxRejectedDetails is the largest details object kept; larger
	// details become the truncated error text.
	maxRejectedDetails = 1024
)

// rejectedRecord is the envelope and details a rejected record keeps of m,
// rejected with err. Both are bounded whatever the sender sent: a
// signature failure keeps signatureFailureRecord; another rejection the
// whole envelope if it is at most maxRejectedEnvelope bytes, else the
// envelope without item_content (its other fields are capped on ingest,
// so about 5 KB at most); details over maxRejectedDetails become the
// error text, cut to maxRejectedError.
func rejectedRecord(m *message.Message, err error) (env, details json.RawMessage) {
	if message.CodeOf(err) == message.CodeInvalidSignature {
		// Anyone can send an unsigned envelope: keep a bounded record of
		// it (hash, sender prefix, error), not the stranger's content.
		env, _ = json.Marshal(signatureFailureRecord(m))
	} else if env, _ = json.Marshal(m); len(env) > maxRejectedEnvelope {
		c := *m
		c.ItemContent = ""
		env, _ = json.Marshal(&c)
	}
	var me *message.Error
	if errors.As(err, &me) && me.Details != nil {
		details, _ = json.Marshal(me.Details)
	}
	if details == nil || len(details) > maxRejectedDetails {
		details, _ = json.Marshal(map[string]any{"errors": []string{truncateError(err.Error())}})
	}
	return env, details
}

// signatureFailureRecord is what a node keeps of a message whose signature
// does not verify: the envelope without its item_content, with sender and
// signature cut to a short prefix. Its size does not depend on what the
// sender sent.
func signatureFailureRecord(m *message.Message) *message.Message {
	c := *m
	c.Sender = message.Quote(c.Sender)
	c.Signature = message.Quote(c.Signature)
	c.Channel = message.Quote(c.Channel)
	c.ItemContent = ""
	return &c
}
