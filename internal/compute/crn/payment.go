package crn

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/balances"
)

// The payment loop (the reference's check_payment, spec §4.7): every
// Config.PaymentInterval the node asks the core node about each running
// execution and stops
//
//   - an execution whose message is forgotten or removed, after
//     terminalObservations rounds in a row say so (the feed usually stops
//     it first: this catches what the feed missed, and removals, which
//     are not messages);
//   - the newest executions of an owner who no longer pays: for hold, the
//     owner's balance must cover what its messages lock (locked_amount,
//     the core node's sum of every hold cost, these executions' included);
//     for credit, the credit balance must cover one day of the per-second
//     cost of the executions here (the core node's own runway rule).
//
// Unlike the reference, which checks confidential VMs only, every
// execution is checked. The node cannot know the positions the core node's
// collection walks (docs/design/0016): what it can stop is its executions,
// so it stops the most recently started first. A program stopped for
// payment is refused (402) until a round finds its owner paying again,
// so neither a request nor its supervisor starts it meanwhile.
//
// Balances are enforced only against a core node that enforces quotas
// itself (X-Aleph-Quota: on, or a node that does not say, as the
// reference): a quota-off node admits what nobody pays for, and its compute
// node follows it. Superfluid streams are not read yet: those executions
// are not stopped for payment.

// Defaults of the payment loop.
const (
	DefaultPaymentInterval = 60 * time.Second // the reference's check_payment period
	// terminalObservations is how many rounds in a row must see a message
	// forgotten or removed before its execution is stopped (the reference's
	// count).
	terminalObservations = 3
	// creditRunway is how long the credit balance must last: one day, as
	// the core node's credit admission and collection.
	creditRunway = 86400
)

// Reasons an execution is stopped by the payment loop (metric label).
const (
	stopBalance   = "insufficient_balance"
	stopCredit    = "insufficient_credit"
	stopForgotten = "forgotten"
	stopRemoved   = "removed"
)

// payments is the state of the payment loop. Its mutex guards the maps.
type payments struct {
	s *Server

	mu sync.Mutex
	// prices are the prices of the executions running or refused; a
	// message's price does not change (it is computed at its time).
	prices map[string]*price
	// terminal counts the rounds in a row a message was seen forgotten or
	// removed.
	terminal map[string]int
	// unpaid are the programs stopped for payment, by hash: their owner.
	unpaid map[string]string
}

// price is what the payment loop knows of an execution's message.
type price struct {
	payment string   // hold, credit or superfluid
	cost    *big.Int // hold: held; credit: per second (base units)
	quota   bool     // the core node enforces quotas
}

func newPayments(s *Server) *payments {
	return &payments{s: s, prices: map[string]*price{}, terminal: map[string]int{}, unpaid: map[string]string{}}
}

// refused returns the error of a program stopped for payment, or nil.
func (p *payments) refused(hash string) error {
	p.mu.Lock()
	owner, ok := p.unpaid[hash]
	p.mu.Unlock()
	if !ok {
		return nil
	}
	return errorf(http.StatusPaymentRequired, "Program %s was stopped: its owner %s does not pay for it", hash, owner)
}

// run checks payments every interval until ctx ends.
func (p *payments) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.check(ctx)
		}
	}
}

// payItem is one execution (or refused program) of an owner.
type payItem struct {
	hash    string
	started time.Time
	price   *price
}

// check is one round of the loop.
func (p *payments) check(ctx context.Context) {
	owners := map[string][]payItem{}
	live := map[string]bool{}
	for _, e := range p.s.pool.list() {
		live[e.Hash] = true
		if p.gone(ctx, e.Hash) {
			continue
		}
		pr, err := p.price(ctx, e.Hash)
		if err != nil {
			p.s.log.Warn("payment check: price", "hash", e.Hash, "err", err)
			p.s.metrics.paymentChecks.WithLabelValues("error").Inc()
			continue
		}
		owners[e.Owner] = append(owners[e.Owner], payItem{hash: e.Hash, started: e.Prepared, price: pr})
	}
	p.mu.Lock()
	refused := map[string][]string{}
	for h, owner := range p.unpaid {
		refused[owner] = append(refused[owner], h)
		live[h] = true
	}
	for h := range p.prices {
		if !live[h] {
			delete(p.prices, h)
		}
	}
	for h := range p.terminal {
		if !live[h] {
			delete(p.terminal, h)
		}
	}
	p.mu.Unlock()
	for owner := range refused {
		if owners[owner] == nil {
			owners[owner] = []payItem{}
		}
	}
	for owner, items := range owners {
		if err := p.enforce(ctx, owner, items, refused[owner]); err != nil {
			p.s.log.Warn("payment check", "owner", owner, "err", err)
			p.s.metrics.paymentChecks.WithLabelValues("error").Inc()
			continue
		}
		p.s.metrics.paymentChecks.WithLabelValues("ok").Inc()
	}
}

// gone counts a round of hash's message status and stops its execution
// when it has been forgotten or removed long enough; it reports whether
// the message is forgotten or removed.
func (p *payments) gone(ctx context.Context, hash string) bool {
	res, err := p.s.cfg.Client.Message(ctx, hash)
	if err != nil {
		if !errors.Is(err, client.ErrNotFound) && ctx.Err() == nil {
			p.s.log.Warn("payment check: message status", "hash", hash, "err", err)
		}
		return false // no decision on a failed read, nor on a core node that lost it
	}
	reason := ""
	switch res.Status {
	case client.StatusForgotten:
		reason = stopForgotten
	case client.StatusRemoved:
		reason = stopRemoved
	}
	p.mu.Lock()
	if reason == "" {
		delete(p.terminal, hash)
		p.mu.Unlock()
		return false
	}
	p.terminal[hash]++
	n := p.terminal[hash]
	p.mu.Unlock()
	if n >= terminalObservations {
		p.s.unsupervise([]string{hash})
		p.s.reg.forget([]string{hash})
		p.stop(hash, reason, "message "+string(res.Status))
	}
	return true
}

// price returns the price of hash's message, asking the core node once.
func (p *payments) price(ctx context.Context, hash string) (*price, error) {
	p.mu.Lock()
	pr := p.prices[hash]
	p.mu.Unlock()
	if pr != nil {
		return pr, nil
	}
	cp, err := p.s.cfg.Client.MessagePrice(ctx, hash)
	if err != nil {
		return nil, err
	}
	cost, err := balances.ParseAmount(cp.Cost)
	if err != nil {
		return nil, fmt.Errorf("price of %s: cost %q: %w", hash, cp.Cost, err)
	}
	pr = &price{payment: cp.PaymentType, cost: cost, quota: cp.QuotaMode != "off"}
	p.mu.Lock()
	p.prices[hash] = pr
	p.mu.Unlock()
	return pr, nil
}

// enforce stops the newest executions of owner (items) until what is left
// is paid, and lets the refused programs run again once all of them are.
func (p *payments) enforce(ctx context.Context, owner string, items []payItem, refused []string) error {
	var hold, credit []payItem
	for _, it := range items {
		if !it.price.quota {
			continue
		}
		switch it.price.payment {
		case "hold":
			hold = append(hold, it)
		case "credit":
			credit = append(credit, it)
		}
	}
	var heldRefused, creditRefused []*big.Int
	p.mu.Lock()
	for _, h := range refused {
		if pr := p.prices[h]; pr != nil && pr.payment == "credit" {
			creditRefused = append(creditRefused, pr.cost)
		} else if pr != nil {
			heldRefused = append(heldRefused, pr.cost)
		}
	}
	p.mu.Unlock()
	if len(hold)+len(credit)+len(refused) == 0 {
		return nil
	}
	b, err := p.s.cfg.Client.Balance(ctx, owner, "")
	if err != nil {
		return fmt.Errorf("balance: %w", err)
	}
	balance, err := amount(b.Balance)
	if err != nil {
		return fmt.Errorf("balance: %w", err)
	}
	locked, err := amount(b.LockedAmount)
	if err != nil {
		return fmt.Errorf("locked_amount: %w", err)
	}
	credits, err := amount(b.CreditBalance)
	if err != nil {
		return fmt.Errorf("credit_balance: %w", err)
	}
	// Hold: what the owner's other messages lock comes first (the node
	// cannot stop them); the executions here share what is left.
	others := new(big.Int).Sub(locked, sum(hold, nil))
	others.Sub(others, sumOf(heldRefused))
	if others.Sign() < 0 {
		others.SetInt64(0)
	}
	holdOK := p.stopNewest(owner, hold, others, balance, 1, stopBalance)
	creditOK := p.stopNewest(owner, credit, new(big.Int), credits, creditRunway, stopCredit)
	// A refused program runs again when the owner pays for everything,
	// it included.
	if len(refused) > 0 && holdOK.Add(holdOK, sumOf(heldRefused)).Cmp(balance) <= 0 &&
		creditOK.Add(creditOK, new(big.Int).Mul(sumOf(creditRefused), big.NewInt(creditRunway))).Cmp(credits) <= 0 {
		p.mu.Lock()
		for _, h := range refused {
			delete(p.unpaid, h)
		}
		p.mu.Unlock()
		p.s.log.Info("owner pays again: programs may run", "owner", owner, "programs", refused)
	}
	return nil
}

// stopNewest stops the most recently started of items until base plus
// scale × their costs is at most available, and returns what the kept
// ones then require.
func (p *payments) stopNewest(owner string, items []payItem, base, available *big.Int, scale int64, reason string) *big.Int {
	sort.Slice(items, func(i, j int) bool { return items[i].started.Before(items[j].started) })
	scaled := func(v *big.Int) *big.Int { return new(big.Int).Mul(v, big.NewInt(scale)) }
	required := new(big.Int).Add(base, scaled(sum(items, nil)))
	for len(items) > 0 && required.Cmp(available) > 0 {
		last := items[len(items)-1]
		items = items[:len(items)-1]
		p.mu.Lock()
		p.unpaid[last.hash] = owner
		p.mu.Unlock()
		p.stop(last.hash, reason, fmt.Sprintf("owner %s has %s, needs %s", owner,
			balances.FormatAmount(available), balances.FormatAmount(required)))
		required.Sub(required, scaled(last.price.cost))
	}
	return required
}

// stop retires the execution of hash for reason (its last request, if
// any, ends first) and counts it.
func (p *payments) stop(hash, reason, detail string) {
	p.s.log.Warn("execution stopped by the payment check", "hash", hash, "reason", reason, "detail", detail)
	p.s.metrics.paymentStops.WithLabelValues(reason).Inc()
	p.s.pool.retire(func(e *execution) bool { return e.hash == hash }, reason)
}

// sum adds the costs of items (into dst if not nil).
func sum(items []payItem, dst *big.Int) *big.Int {
	if dst == nil {
		dst = new(big.Int)
	}
	for _, it := range items {
		dst.Add(dst, it.price.cost)
	}
	return dst
}

func sumOf(vs []*big.Int) *big.Int {
	t := new(big.Int)
	for _, v := range vs {
		t.Add(t, v)
	}
	return t
}

// amount reads a balance field; an absent one is 0.
func amount(n interface{ String() string }) (*big.Int, error) {
	s := n.String()
	if s == "" {
		return new(big.Int), nil
	}
	return balances.ParseAmount(s)
}
