// Package chainsync is the core node's chain synchronisation service: it
// follows the AlephSync contract on an EVM chain (ethreader), expands each
// event into messages (spec core-node §7.2) — inline "aleph" payloads and
// "aleph-offchain" archives fetched by CID through the node — submits them
// to the node's normal pipeline, where their signatures are checked, and
// records a confirmation (transaction hash, height) for every message it
// accepted. The node role runs it when a chain RPC is configured.
package chainsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/goaleph/goaleph/internal/chain/ethreader"
	"github.com/goaleph/goaleph/internal/chain/ethrpc"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// Origin is the origin the service gives the messages it submits.
const Origin = "chain"

// Chain is the name of the chain the service reads, in the store and in
// confirmations (the reference's name for Ethereum).
const Chain = "ETH"

// submitWorkers is how many messages of one event are submitted at once:
// enough for the node's writer to apply an archive in large batches.
const submitWorkers = 32

// Node is what the service needs of the core node; *node.Node implements it.
type Node interface {
	// Submit ingests a message as the API and p2p do (see node.Node.Submit).
	Submit(ctx context.Context, m *message.Message, origin string, wait bool) (store.Status, error)
	// ReadFile returns a file from the node's store or its peers.
	ReadFile(ctx context.Context, hash string, limit int64) ([]byte, error)
	// Store is the node's database (heights and confirmations).
	Store() store.Store
}

// Service follows one chain. It is a lifecycle service: Run polls until
// its context ends; Close releases a service never run.
type Service struct {
	cfg     Config
	node    Node
	log     *slog.Logger
	client  *ethrpc.Client
	reader  *ethreader.Reader
	metrics *metrics

	// handled holds the blocks whose events the current poll handled
	// (Run's goroutine only).
	handled map[uint64]common.Hash

	mu      sync.Mutex
	retries []*archiveRetry // archives not fetched yet, by due time
}

// archiveRetry is an aleph-offchain event whose archive could not be
// fetched yet.
type archiveRetry struct {
	ev       ethreader.Event
	cid      string
	attempts int
	due      time.Time
}

// New checks cfg and connects to its RPC endpoint (lazily: an unreachable
// endpoint is retried by Run, not an error here).
func New(ctx context.Context, cfg Config, node Node) (*Service, error) {
	cfg.defaults()
	rc, err := cfg.readerConfig()
	if err != nil {
		return nil, err
	}
	client, err := ethrpc.Dial(ctx, cfg.RPC, ethrpc.Options{Chain: Chain, Service: "sync", Timeout: cfg.RPCTimeout})
	if err != nil {
		return nil, fmt.Errorf("chain sync: %w", err)
	}
	rd, err := ethreader.New(rc, client, ethreader.StoreHeights{Store: node.Store()})
	if err != nil {
		client.Close()
		return nil, err
	}
	s := &Service{cfg: cfg, node: node, log: cfg.Logger.With("chain", Chain), client: client, reader: rd}
	s.metrics = newMetrics(s)
	return s, nil
}

func (c *Config) readerConfig() (ethreader.Config, error) {
	rc := ethreader.Config{Chain: Chain, Confirmations: uint64(c.Confirmations), StartHeight: uint64(c.StartHeight)}
	if c.Confirmations < 0 || c.StartHeight < 0 {
		return rc, errors.New("chain sync: confirmations and start height must not be negative")
	}
	if !common.IsHexAddress(c.SyncContract) {
		return rc, fmt.Errorf("chain sync: sync contract %q is not an address", c.SyncContract)
	}
	rc.Contract = common.HexToAddress(c.SyncContract)
	for _, e := range c.Emitters {
		if !common.IsHexAddress(e) {
			return rc, fmt.Errorf("chain sync: emitter %q is not an address", e)
		}
		rc.Emitters = append(rc.Emitters, common.HexToAddress(e))
	}
	return rc, nil
}

// Close releases the RPC client of a service that is never run.
func (s *Service) Close() error {
	s.client.Close()
	return nil
}

// Run polls the chain every PollInterval (sooner when an archive is due to
// be fetched again) until ctx ends. A failed poll (RPC down, node
// stopping) is retried after a back-off that doubles up to
// MaxBackoff; the height advances only past handled events, so nothing is
// skipped.
func (s *Service) Run(ctx context.Context) error {
	defer s.client.Close()
	if err := s.loadRetries(ctx); err != nil {
		return fmt.Errorf("chain sync: archives to fetch again: %w", err)
	}
	failures := 0
	for {
		s.handled = map[uint64]common.Hash{}
		err := s.checkReorg(ctx)
		if err == nil {
			err = s.reader.Poll(ctx, s.handle)
		}
		if err == nil {
			err = s.recordTip(ctx, s.handled)
		}
		s.metrics.observe()
		if ctx.Err() != nil {
			return nil
		}
		wait := s.cfg.PollInterval
		if err != nil {
			failures++
			s.metrics.pollErrors.Inc()
			wait = min(s.cfg.RetryBase<<min(failures-1, 20), s.cfg.MaxBackoff)
			s.metrics.backoff.Set(wait.Seconds())
			s.log.Warn("chain poll failed", "err", err, "retry_in", wait, "failures", failures)
		} else {
			failures = 0
			s.metrics.backoff.Set(0)
		}
		s.retryArchives(ctx)
		if due, ok := s.nextRetry(); ok {
			wait = min(wait, max(time.Until(due), 0))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// handle expands the events of one block range. It returns an error only
// when the node could not take a message (it is stopping, or its
// database is down): the range is then read again.
func (s *Service) handle(ctx context.Context, events []ethreader.Event) error {
	for i := range events {
		ev := &events[i]
		s.handled[ev.Height] = ev.BlockHash
		switch ev.Kind {
		case ethreader.SyncEvent:
			if err := s.syncEvent(ctx, ev); err != nil {
				return err
			}
		case ethreader.MessageEvent:
			if err := s.contractEvent(ctx, ev); err != nil {
				return err
			}
		}
	}
	return nil
}

// Event kinds and outcomes, the labels of aleph_chain_events_total.
const (
	kindInline        = "aleph"
	kindOffchain      = "aleph-offchain"
	kindSmartContract = "smart-contract"
	kindUnknown       = "unknown"

	outcomeProcessed = "processed" // its messages were submitted
	outcomeMalformed = "malformed" // the payload or archive does not parse
	outcomeDeferred  = "deferred"  // the archive could not be fetched yet
)

func (s *Service) syncEvent(ctx context.Context, ev *ethreader.Event) error {
	p, err := ethreader.ParseSyncMessage([]byte(ev.Message))
	if err != nil {
		s.log.Debug("malformed sync event", "tx", ev.TxHash, "err", err)
		s.metrics.event(kindUnknown, outcomeMalformed)
		return nil
	}
	if p.Protocol == ethreader.ProtocolInline {
		if err := s.ingest(ctx, ev, p.Messages); err != nil {
			return err
		}
		s.metrics.event(kindInline, outcomeProcessed)
		return nil
	}
	cid := p.CID.String()
	done, err := s.archive(ctx, ev, cid)
	if err != nil {
		return err
	}
	if !done {
		if err := s.schedule(ctx, &archiveRetry{ev: *ev, cid: cid}); err != nil {
			return err // the event is read again
		}
		s.metrics.event(kindOffchain, outcomeDeferred)
	}
	return nil
}

// contractEvent submits the synthetic message of a MessageEvent.
func (s *Service) contractEvent(ctx context.Context, ev *ethreader.Event) error {
	m, err := contractMessage(ev)
	if err != nil {
		s.log.Debug("malformed smart-contract event", "tx", ev.TxHash, "err", err)
		s.metrics.event(kindSmartContract, outcomeMalformed)
		s.metrics.messages.WithLabelValues(Chain, msgInvalid).Inc()
		return nil
	}
	if err := s.confirm(ctx, ev, []submitResult{s.submitMessage(ctx, m, store.OriginSmartContract)}); err != nil {
		return err
	}
	s.metrics.event(kindSmartContract, outcomeProcessed)
	return nil
}

// archive fetches and ingests the archive cid of ev. It reports false when
// the archive cannot be fetched now (retry later); a malformed archive is
// done with.
func (s *Service) archive(ctx context.Context, ev *ethreader.Event, cid string) (bool, error) {
	fctx, cancel := context.WithTimeout(ctx, s.cfg.ArchiveTimeout)
	data, err := s.node.ReadFile(fctx, cid, ethreader.MaxPayload)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		s.log.Info("archive not available", "cid", cid, "tx", ev.TxHash, "err", err)
		s.metrics.archives.WithLabelValues(Chain, "failed").Inc()
		return false, nil
	}
	s.metrics.archives.WithLabelValues(Chain, "fetched").Inc()
	msgs, err := ethreader.ParseArchive(data)
	if err != nil {
		s.log.Warn("malformed archive", "cid", cid, "tx", ev.TxHash, "err", err)
		s.metrics.event(kindOffchain, outcomeMalformed)
		return true, nil
	}
	if err := s.ingest(ctx, ev, msgs); err != nil {
		return false, err
	}
	s.metrics.event(kindOffchain, outcomeProcessed)
	return true, nil
}

// Outcomes of the messages of an event, the labels of
// aleph_chain_messages_total.
const (
	msgAccepted = "accepted" // processed, or pending in the pipeline: confirmed
	msgRejected = "rejected" // refused by the pipeline (a bad signature …)
	msgInvalid  = "invalid"  // not a valid envelope
)

// ingest submits the messages of ev to the node and records a confirmation
// of ev's transaction for each one it accepted (processed or pending).
func (s *Service) ingest(ctx context.Context, ev *ethreader.Event, raws []json.RawMessage) error {
	results := make([]submitResult, len(raws))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(submitWorkers, len(raws)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results[i] = s.submit(ctx, raws[i])
			}
		}()
	}
	for i := range raws {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return s.confirm(ctx, ev, results)
}

// confirm counts the outcomes of an event's messages and records a
// confirmation of ev's transaction for those accepted. It returns the
// first error of a message the node could not take.
func (s *Service) confirm(ctx context.Context, ev *ethreader.Event, results []submitResult) error {
	confs := make([]store.Confirmation, 0, len(results))
	for _, r := range results {
		if r.err != nil {
			return r.err
		}
		s.metrics.messages.WithLabelValues(Chain, r.outcome).Inc()
		if r.outcome == msgAccepted {
			confs = append(confs, store.Confirmation{ItemHash: r.hash, Chain: Chain, TxHash: ev.TxHash.Hex(),
				Height: ev.Height, BlockHash: ev.BlockHash.Hex(), Time: float64(ev.Timestamp)})
		}
	}
	if len(confs) == 0 {
		return nil
	}
	return s.node.Store().Update(ctx, func(tx store.Tx) error { return tx.AddConfirmations(confs...) })
}

// submitResult is what became of one message of an event.
type submitResult struct {
	hash    string
	outcome string // msgAccepted, msgRejected or msgInvalid
	err     error  // the node could not take it
}

func (s *Service) submit(ctx context.Context, raw []byte) (r submitResult) {
	m, err := message.Parse(raw)
	if err != nil {
		r.outcome = msgInvalid
		return r
	}
	return s.submitMessage(ctx, m, Origin)
}

func (s *Service) submitMessage(ctx context.Context, m *message.Message, origin string) (r submitResult) {
	r.hash = m.ItemHash
	status, err := s.node.Submit(ctx, m, origin, true)
	switch status {
	case store.StatusProcessed, store.StatusPending:
		r.outcome = msgAccepted
	case "":
		// Not stored: the node is stopping or its database is down.
		r.err = fmt.Errorf("submit %s: %w", m.ItemHash, err)
	default:
		s.log.Debug("chain message refused", "item_hash", m.ItemHash, "status", status, "err", err)
		r.outcome = msgRejected
	}
	return r
}

// schedule queues an archive to be fetched again after a back-off that
// doubles with each attempt, up to MaxBackoff, and records it in the store
// (before the reader's height passes its event), so that a restart fetches
// it again too. An error is the store's: the archive stays queued.
func (s *Service) schedule(ctx context.Context, r *archiveRetry) error {
	r.attempts++
	r.due = time.Now().Add(min(s.cfg.RetryBase<<min(r.attempts-1, 20), s.cfg.MaxBackoff))
	ev, err := json.Marshal(&r.ev)
	if err != nil {
		return err
	}
	rec := store.ArchiveRetry{Chain: Chain, TxHash: r.ev.TxHash.Hex(), LogIndex: r.ev.LogIndex, Height: r.ev.Height,
		CID: r.cid, Event: string(ev), Attempts: r.attempts}
	s.queue(r)
	if err := s.node.Store().Update(ctx, func(tx store.Tx) error { return tx.PutArchiveRetry(&rec) }); err != nil {
		return fmt.Errorf("record archive %s to fetch again: %w", r.cid, err)
	}
	return nil
}

// queue adds r to the in-memory queue, by due time (once per event).
func (s *Service) queue(r *archiveRetry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.retries {
		if q.ev.TxHash == r.ev.TxHash && q.ev.LogIndex == r.ev.LogIndex {
			q.attempts, q.due = r.attempts, r.due
			return // read again (a rewind): already queued
		}
	}
	i := len(s.retries)
	for i > 0 && s.retries[i-1].due.After(r.due) {
		i--
	}
	s.retries = append(s.retries, nil)
	copy(s.retries[i+1:], s.retries[i:])
	s.retries[i] = r
}

// loadRetries queues the archives recorded by an earlier run, due now.
func (s *Service) loadRetries(ctx context.Context) error {
	recs, err := s.node.Store().ArchiveRetries(ctx, Chain)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, rec := range recs {
		r := &archiveRetry{cid: rec.CID, attempts: rec.Attempts, due: now}
		if err := json.Unmarshal([]byte(rec.Event), &r.ev); err != nil {
			return fmt.Errorf("archive %s: event %q: %w", rec.CID, rec.Event, err)
		}
		s.queue(r)
	}
	if len(recs) > 0 {
		s.log.Info("archives to fetch again", "count", len(recs))
	}
	return nil
}

// done forgets an archive fetched (or malformed).
func (s *Service) done(ctx context.Context, r *archiveRetry) error {
	return s.node.Store().Update(ctx, func(tx store.Tx) error {
		return tx.DeleteArchiveRetry(Chain, r.ev.TxHash.Hex(), r.ev.LogIndex)
	})
}

func (s *Service) nextRetry() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.retries) == 0 {
		return time.Time{}, false
	}
	return s.retries[0].due, true
}

// pendingArchives returns the number of archives waiting to be fetched.
func (s *Service) pendingArchives() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.retries)
}

// retryArchives fetches again the archives that are due.
func (s *Service) retryArchives(ctx context.Context) {
	now := time.Now()
	for {
		s.mu.Lock()
		if len(s.retries) == 0 || s.retries[0].due.After(now) {
			s.mu.Unlock()
			return
		}
		r := s.retries[0]
		s.retries = s.retries[1:]
		s.mu.Unlock()
		done, err := s.archive(ctx, &r.ev, r.cid)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Warn("archive retry", "cid", r.cid, "err", err)
		}
		if done {
			err = s.done(ctx, r)
		} else {
			err = s.schedule(ctx, r)
		}
		if err != nil {
			// Kept in the store: the next run fetches it again.
			s.log.Warn("archive retry not recorded", "cid", r.cid, "err", err)
		}
	}
}

// normalizeAddresses trims and drops empty entries of a list setting.
func normalizeAddresses(in []string) []string {
	var out []string
	for _, a := range in {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
