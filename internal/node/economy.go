package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/goaleph/goaleph/internal/api"
	"github.com/goaleph/goaleph/internal/economy"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// EconomyConfig configures prices and admission (economy.*; see
// docs/design/0016-economy.md). Zero fields take the reference's values,
// except Quota.
type EconomyConfig struct {
	// Quota checks, when a STORE, PROGRAM or INSTANCE is processed, that
	// its owner can pay for it (balance, credits, cut-offs). Off, costs
	// are still computed and recorded but never refuse a message.
	Quota bool
	// PricingAddress owns the `pricing` aggregate. Default
	// economy.PricingAddress.
	PricingAddress string
	// CreditSenders publish the credit posts; CreditChannel is their
	// channel. Defaults economy.CreditSender and economy.CreditChannel.
	CreditSenders []string
	CreditChannel string
	// FreeCutoff, HoldCutoff and CreditOnlyCutoff are the cut-off dates
	// (unix seconds; economy.DefaultRules).
	FreeCutoff, HoldCutoff, CreditOnlyCutoff int64
	// CollectGrace is how long a message its owner no longer pays for
	// stays removing before it is removed, measured on the log clock.
	// Default DefaultCollectGrace.
	CollectGrace time.Duration
	// CollectPeriod is the interval between collection passes, which run
	// with quotas on only. Default DefaultCollectPeriod.
	CollectPeriod time.Duration
}

func (c *EconomyConfig) defaults() {
	if c.PricingAddress == "" {
		c.PricingAddress = economy.PricingAddress
	}
	if c.CreditSenders == nil {
		c.CreditSenders = []string{economy.CreditSender}
	}
	if c.CreditChannel == "" {
		c.CreditChannel = economy.CreditChannel
	}
	if c.FreeCutoff == 0 {
		c.FreeCutoff = economy.DefaultFreeCutoff
	}
	if c.HoldCutoff == 0 {
		c.HoldCutoff = economy.DefaultHoldCutoff
	}
	if c.CreditOnlyCutoff == 0 {
		c.CreditOnlyCutoff = economy.DefaultCreditOnlyCutoff
	}
	if c.CollectGrace <= 0 {
		c.CollectGrace = DefaultCollectGrace
	}
	if c.CollectPeriod <= 0 {
		c.CollectPeriod = DefaultCollectPeriod
	}
}

// economyState prices messages and admits them. The pricing timeline is
// cached until a pricing element is applied or forgotten, or a batch that
// may have applied one fails.
type economyState struct {
	cfg   EconomyConfig
	rules economy.Rules

	mu       sync.Mutex
	gen      uint64
	timeline *economy.Timeline

	// admissions counts admission decisions by result (admitted, or the
	// rejection code's name).
	admissions *prometheus.CounterVec

	// addUpRows makes admission add up the owners' cost rows even where
	// their kept totals answer: tests set it to check that both decide
	// the same.
	addUpRows bool
}

func newEconomy(cfg EconomyConfig, reg prometheus.Registerer) *economyState {
	cfg.defaults()
	e := &economyState{cfg: cfg, rules: economy.Rules{FreeCutoff: cfg.FreeCutoff, HoldCutoff: cfg.HoldCutoff, CreditOnlyCutoff: cfg.CreditOnlyCutoff},
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_admissions_total",
			Help: "Balance admissions of STORE, PROGRAM and INSTANCE messages by result (admitted or the rejection code); counted with quotas on only."}, []string{"result"})}
	reg.MustRegister(e.admissions)
	return e
}

// isPricing tells whether an aggregate element is one of the pricing
// aggregate's.
func (e *economyState) isPricing(owner, key string) bool {
	return owner == e.cfg.PricingAddress && key == economy.PricingKey
}

func (e *economyState) invalidate() {
	e.mu.Lock()
	e.gen++
	e.timeline = nil
	e.mu.Unlock()
}

// pricing returns the pricing timeline, loading it through tx when needed.
func (e *economyState) pricing(tx store.Tx) (*economy.Timeline, error) {
	e.mu.Lock()
	tl, gen := e.timeline, e.gen
	e.mu.Unlock()
	if tl != nil {
		return tl, nil
	}
	rows, err := tx.AggregateElements(e.cfg.PricingAddress, economy.PricingKey)
	if err != nil {
		return nil, err
	}
	els := make([]economy.TimedElement, len(rows))
	for i, el := range rows {
		els[i] = economy.TimedElement{Time: el.CreationTime, Content: el.Content}
	}
	tl = economy.NewTimeline(els)
	e.mu.Lock()
	if e.gen == gen {
		e.timeline = tl
	}
	e.mu.Unlock()
	return tl, nil
}

// txFiles sizes volumes through a store reader.
type txFiles struct {
	ctx context.Context
	r   store.Reader
}

func (f txFiles) FileSize(ref string, useLatest bool) (int64, bool, error) {
	var pin *store.Pin
	var err error
	if useLatest {
		pin, err = f.r.FileByRef(f.ctx, "", ref)
	} else {
		pin, err = f.r.FileByMessage(f.ctx, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	file, err := f.r.File(f.ctx, pin.FileHash)
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return file.Size, true, nil
}

// costs computes the costs of a content of type t dated at, with the
// prices in force then; storeSize is a STORE's file size (-1: unknown).
func (e *economyState) costs(ctx context.Context, r store.Reader, tl *economy.Timeline, t message.Type, raw json.RawMessage, at float64, storeSize int64) (*economy.Costs, error) {
	c, err := economy.Compute(tl.Model(at), t, raw, storeSize, txFiles{ctx, r})
	if err != nil {
		return nil, err
	}
	e.rules.ApplyFree(c, t, at, storeSize)
	return c, nil
}

// priced tells whether messages of type t have a cost.
func priced(t message.Type) bool {
	return t == message.TypeStore || t == message.TypeProgram || t == message.TypeInstance
}

// admit prices a checked STORE, PROGRAM or INSTANCE and, with quotas on,
// refuses it when its owner cannot pay (a *message.Error). It returns the
// cost row to record once the message is stored; nil when the cost cannot
// be computed with quotas off. Everything it reads is at the message's
// position: the prices and balances dated at or before its time, and the
// costs of the owner's messages dated before it.
func (n *Node) admit(ctx context.Context, tx store.Tx, it *item) (*store.Cost, error) {
	e, m, c := n.econ, it.msg, it.content
	size := int64(-1)
	if c.Store != nil {
		info, err := n.files.Stat(ctx, c.Store.ItemHash)
		if err != nil {
			return nil, err
		}
		size = info.Size
	}
	tl, err := e.pricing(tx)
	if err != nil {
		return nil, err
	}
	costs, err := e.costs(ctx, tx, tl, m.Type, c.Raw, m.Time, size)
	var me *message.Error
	if err != nil && !errors.As(err, &me) {
		return nil, err
	}
	if err != nil {
		if !e.cfg.Quota {
			return nil, nil // unpriceable, and nothing to enforce
		}
		e.admissions.WithLabelValues(me.Code.String()).Inc()
		return nil, err
	}
	row := &store.Cost{ItemHash: m.ItemHash, Owner: c.Address, Time: m.Time, PaymentType: costs.Payment}
	row.Hold, row.Stream, row.Credit = costs.Sum()
	if costs.Free {
		row.Hold = new(big.Int)
	}
	if !e.cfg.Quota {
		return row, nil
	}
	if err := n.checkFunds(ctx, tx, it, costs); err != nil {
		e.admissions.WithLabelValues(message.CodeOf(err).String()).Inc()
		return nil, err
	}
	e.admissions.WithLabelValues("admitted").Inc()
	return row, nil
}

// checkFunds applies the cut-offs and the payment type's balance rule.
// What it reads is at the message's position: the owner's balance dated
// at or before its time, and what the owner's messages positioned before
// it hold (hold) or spend per second (credit), less the hold-paid ones
// removed at its position.
func (n *Node) checkFunds(ctx context.Context, tx store.Tx, it *item, costs *economy.Costs) error {
	m, owner := it.msg, it.content.Address
	if err := n.econ.rules.CheckPayment(costs, m.Time); err != nil {
		return err
	}
	if costs.Payment == economy.PaymentSuperfluid || costs.Total().Sign() == 0 {
		return nil
	}
	// The owner's kept totals answer when every row they cover is
	// positioned before the message (the pipeline's common case: messages
	// arrive in time order); else the rows are added up. One query reads
	// them with the owner's balance history.
	total, found, history, err := tx.FundsAt(ctx, owner, m.Time)
	if err != nil {
		return err
	}
	if !found { // the owner has no cost row
		total = store.CostTotal{Hold: new(big.Int), Credit: new(big.Int), Last: math.Inf(-1)}
	}
	before := !n.econ.addUpRows && total.Last < m.Time
	f := economy.Funds{Held: new(big.Int), CreditPerSecond: new(big.Int), Credits: new(big.Int)}
	switch costs.Payment {
	case economy.PaymentHold:
		funds := &balanceTimeline{rows: history, best: map[[2]string]store.Balance{}}
		if before && total.Removed == 0 && (total.HoldRows == 0 || coversAll(funds, total, m.Time)) {
			// No row removed by a pass, and the balance covered all the
			// rows at every position since the first: the walk up to
			// here removes nothing, so all of them are held.
			f.Held.Set(total.Hold)
		} else if f.Held, err = n.heldBefore(ctx, tx, owner, m.Time, m.ItemHash); err != nil {
			return err
		}
		funds = &balanceTimeline{rows: history, best: map[[2]string]store.Balance{}}
		f.Balance = funds.at(m.Time) // Reader.BalancesAt's rule
	case economy.PaymentCredit:
		if before {
			f.CreditPerSecond.Set(total.Credit)
		} else if f.CreditPerSecond, err = creditBefore(ctx, tx, owner, m.Time, m.ItemHash); err != nil {
			return err
		}
		if f.Credits, _, err = creditBalance(ctx, tx, owner, m.Time); err != nil {
			return err
		}
	}
	err = economy.Admit(costs, f)
	var me *message.Error
	if costs.Payment == economy.PaymentHold && errors.As(err, &me) && me.Code == message.CodeBalanceInsufficient &&
		n.balanceClock != nil && n.balanceClock() < m.Time {
		// Transfers dated up to this message may not be read yet: the
		// rejection waits (retried) until the token follower has read
		// the chain past the message's time.
		return &message.Error{Code: me.Code, Details: me.Details, Err: fmt.Errorf("%w (%w)", me.Err, errBalanceUnread)}
	}
	return err
}

// errBalanceUnread marks a balance rejection of a message dated after the
// last block the token follower has read. Rejections are final, and a node
// reading the chain later (a new node) decides with every transfer dated
// up to the message: such a rejection is retried, not stored, until the
// follower has read past the message's time (or the retries run out).
var errBalanceUnread = errors.New("balances not read up to the message's time yet")

// coversAll tells whether funds, at every position from the owner's first
// walked row (total.FirstHold) up to at, are at least all its hold-paid
// rows hold (total.Hold): then a collection walk up to at leaves every row
// covered. funds is consumed.
func coversAll(funds *balanceTimeline, total store.CostTotal, at float64) bool {
	if funds.at(total.FirstHold).Cmp(total.Hold) < 0 {
		return false
	}
	for _, p := range funds.points() {
		if p > total.FirstHold && p <= at && funds.at(p).Cmp(total.Hold) < 0 {
			return false
		}
	}
	return true
}

// heldBefore is what owner's hold-paid messages positioned before (at,
// hash) hold at that position: their rows added up, less those removed
// there (removedAt).
func (n *Node) heldBefore(ctx context.Context, tx store.Tx, owner string, at float64, hash string) (*big.Int, error) {
	earlier, err := tx.Costs(ctx, owner)
	if err != nil {
		return nil, err
	}
	removed, err := n.removedAt(ctx, tx, owner, at, hash)
	if err != nil {
		return nil, err
	}
	held := new(big.Int)
	for _, k := range earlier {
		if !positionedBefore(k, at, hash) {
			continue
		}
		if removed[k.ItemHash] {
			continue // removed before this message's position: no longer held
		}
		if k.PaymentType == economy.PaymentHold {
			held.Add(held, k.Hold)
		}
	}
	return held, nil
}

// creditBefore is what owner's credit-paid messages positioned before
// (at, hash) spend per second. Unlike hold admission, it counts the rows
// the credit collection removed too (as the kept total it stands in for
// does): stricter than the reference, but it reads the log only, so every
// node admits the same (docs/design/0018-collection.md).
func creditBefore(ctx context.Context, tx store.Tx, owner string, at float64, hash string) (*big.Int, error) {
	earlier, err := tx.Costs(ctx, owner)
	if err != nil {
		return nil, err
	}
	perSecond := new(big.Int)
	for _, k := range earlier {
		if positionedBefore(k, at, hash) && k.PaymentType == economy.PaymentCredit {
			perSecond.Add(perSecond, k.Credit)
		}
	}
	return perSecond, nil
}

// positionedBefore tells whether cost row k's message is positioned
// before (at, hash) in the log: by time, then item hash.
func positionedBefore(k store.Cost, at float64, hash string) bool {
	return k.Time < at || (k.Time == at && k.ItemHash < hash)
}

// checkPricing refuses a pricing aggregate element from the pricing address
// that would make the price table malformed.
func (e *economyState) checkPricing(it *item) error {
	a := it.content.Aggregate
	if e == nil || !e.isPricing(it.content.Address, a.Key) {
		return nil
	}
	if err := economy.ValidateAggregate(a.Content); err != nil {
		return message.Errorf(message.CodeInvalidFormat, "%v", err)
	}
	return nil
}

// readPricing returns the pricing timeline for a reader outside the
// writer: the cached one, else one loaded in a transaction that writes
// nothing (the aggregate's elements are read through transactions).
func (n *Node) readPricing(ctx context.Context) (*economy.Timeline, error) {
	n.econ.mu.Lock()
	tl := n.econ.timeline
	n.econ.mu.Unlock()
	if tl != nil {
		return tl, nil
	}
	err := n.store.Update(ctx, func(tx store.Tx) error {
		var err error
		tl, err = n.econ.pricing(tx)
		return err
	})
	return tl, err
}

// MessagePrice returns the costs of a stored message, computed with the
// prices in force at its time.
func (n *Node) MessagePrice(ctx context.Context, rec *store.Record) (*economy.Costs, string, error) {
	size := int64(-1)
	if rec.Type == message.TypeStore {
		if f, err := n.store.File(ctx, rec.ContentItemHash); err == nil {
			size = f.Size
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, "", err
		}
	}
	tl, err := n.readPricing(ctx)
	if err != nil {
		return nil, "", err
	}
	c, err := n.econ.costs(ctx, n.store, tl, rec.Type, rec.Content, rec.Time, size)
	if err != nil {
		return nil, "", err
	}
	return c, rec.Owner, nil
}

// EstimatePrice returns the costs a content of type t would have if sent
// now (at), with sizes from its estimated_size_mib fields or the known
// files.
func (n *Node) EstimatePrice(ctx context.Context, t message.Type, raw json.RawMessage, at float64) (*economy.Costs, string, error) {
	var c struct {
		Address       string `json:"address"`
		ItemHash      string `json:"item_hash"`
		EstimatedSize int64  `json:"estimated_size_mib"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, "", message.Errorf(message.CodeInvalidFormat, "content: %v", err)
	}
	size := int64(-1)
	if t == message.TypeStore && c.ItemHash != "" {
		if f, err := n.store.File(ctx, c.ItemHash); err == nil {
			size = f.Size
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, "", err
		}
	}
	if size < 0 && c.EstimatedSize > 0 {
		size = c.EstimatedSize * economy.MiB // decides whether the STORE is free
	}
	tl, err := n.readPricing(ctx)
	if err != nil {
		return nil, "", err
	}
	costs, err := n.econ.costs(ctx, n.store, tl, t, raw, at, size)
	if err != nil {
		return nil, "", err
	}
	return costs, c.Address, nil
}

// Quota tells whether the node refuses what owners cannot pay for.
func (n *Node) Quota() bool { return n.econ.cfg.Quota }

var _ api.Pricer = (*Node)(nil)
