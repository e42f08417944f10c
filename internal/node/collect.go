package node

import (
	"context"
	"errors"
	"math"
	"math/big"
	"slices"
	"time"

	"github.com/goaleph/goaleph/internal/balances"
	"github.com/goaleph/goaleph/internal/economy"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// Collection of what is not paid for (docs/design/0018-collection.md): a
// pass walks each paying owner's cost rows against the funds the log gives
// them and moves what is not covered to removing, back to processed when
// covered again, and to removed once it has stayed uncovered for the
// grace period. Every position is a log position: the pass runs at the log
// clock (store.Reader.LogClock), never at the node's clock, so two nodes
// holding the same log decide the same statuses whenever they run.

// DefaultCollectGrace is how long a message stays removing before it is
// removed: the reference's 25 hours of STORE pin grace.
const DefaultCollectGrace = 25 * time.Hour

// DefaultCollectPeriod is the interval between collection passes (the
// reference's balance tracker wakes every half hour).
const DefaultCollectPeriod = 30 * time.Minute

// Reasons shown by the message API for removing and removed messages.
const (
	reasonBalance = "balance_insufficient"
	reasonCredit  = "credit_insufficient"
)

// collectJob is the walk of one payment type: the hold job reserves each
// row's hold from the token balance, the credit job a day of each row's
// per-second credit cost from the credit balance (the reference's
// `balance` and `credit_balance` jobs). Both walk the same way.
type collectJob struct {
	payment string // economy.Payment*
	reason  string
	// need is what a cost row takes of the owner's funds.
	need func(c store.Cost) *big.Int
	// funds returns the owner's funds as a timeline up to clock.
	funds func(ctx context.Context, r store.Reader, owner string, clock float64) (fundsTimeline, error)
}

// fundsTimeline gives the funds of an owner at the positions where they
// change.
type fundsTimeline interface {
	// points returns the positions at which the funds change, ascending.
	points() []float64
	// at returns the funds at position p (p ascending between calls).
	at(p float64) *big.Int
}

// creditRunway is how long, in seconds, the credits must last for each
// credit-paid message: a day, as admission asks (economy.Admit).
const creditRunway = 86400

var (
	holdJob = collectJob{
		payment: economy.PaymentHold,
		reason:  reasonBalance,
		need:    func(c store.Cost) *big.Int { return c.Hold },
		funds: func(ctx context.Context, r store.Reader, owner string, clock float64) (fundsTimeline, error) {
			rows, err := r.BalanceHistory(ctx, owner, clock)
			if err != nil {
				return nil, err
			}
			return &balanceTimeline{rows: rows, best: map[[2]string]store.Balance{}}, nil
		},
	}
	creditJob = collectJob{
		payment: economy.PaymentCredit,
		reason:  reasonCredit,
		need: func(c store.Cost) *big.Int {
			if c.Credit == nil {
				return nil
			}
			return new(big.Int).Mul(c.Credit, big.NewInt(creditRunway))
		},
		funds: func(ctx context.Context, r store.Reader, owner string, clock float64) (fundsTimeline, error) {
			es, err := r.CreditEntries(ctx, owner, clock)
			if err != nil {
				return nil, err
			}
			return &creditTimeline{entries: es, fold: economy.NewCreditFold(es)}, nil
		},
	}
)

// collectJobs are the jobs a pass runs, in order.
var collectJobs = []collectJob{holdJob, creditJob}

// creditTimeline is an owner's credit balance (economy.CreditBalance, the
// FIFO fold of its ledger) at each position: it changes at a grant, an
// expense and a lot's expiry.
type creditTimeline struct {
	entries []store.CreditEntry // dated up to the clock
	fold    *economy.CreditFold // of entries
}

func (c *creditTimeline) points() []float64 {
	var ps []float64
	for _, e := range c.entries {
		ps = append(ps, e.Time)
		if e.Kind == store.CreditGrant && e.Expiration != 0 {
			ps = append(ps, float64(e.Expiration)/1000)
		}
	}
	slices.Sort(ps)
	return slices.Compact(ps)
}

func (c *creditTimeline) at(p float64) *big.Int {
	total, _ := c.fold.At(p)
	return total
}

// balanceTimeline folds an owner's balance history in time order: the
// balance at p is, per chain and dApp, the row of the greatest height
// among those dated at or before p (Reader.BalancesAt's rule).
type balanceTimeline struct {
	rows []store.Balance // by time
	next int
	best map[[2]string]store.Balance
}

func (b *balanceTimeline) points() []float64 {
	var ps []float64
	for _, r := range b.rows {
		if len(ps) == 0 || ps[len(ps)-1] != r.Time {
			ps = append(ps, r.Time)
		}
	}
	return ps
}

func (b *balanceTimeline) at(p float64) *big.Int {
	for ; b.next < len(b.rows) && b.rows[b.next].Time <= p; b.next++ {
		r := b.rows[b.next]
		k := [2]string{r.Chain, r.Dapp}
		if old, ok := b.best[k]; !ok || r.Height >= old.Height {
			b.best[k] = r
		}
	}
	cur := make([]store.Balance, 0, len(b.best))
	for _, r := range b.best {
		cur = append(cur, r)
	}
	total, _ := balances.Totals(cur, "")
	return total
}

// collectRow is one cost row in the walk.
type collectRow struct {
	cost      store.Cost
	need      *big.Int
	since     float64 // position from which it is not covered; -1: covered
	removedAt float64 // 0: not removed
	fixed     bool    // removed by an earlier pass: stays removed
}

// walkCollection decides the rows of one owner (by time then item hash)
// at clock: it replays the owner's funds from the first row on, at every
// position where the funds change or a grace period ends, each time
// walking the rows dated up to there with a running balance. A row the
// balance left does not cover is uncovered (it takes nothing, so a later
// cheaper row may still be covered); a row uncovered for a whole grace
// period is removed at its end and takes nothing from then on. The result
// depends on the rows, the funds, the clock and the grace only.
func walkCollection(rows []*collectRow, funds fundsTimeline, clock, grace float64) {
	if len(rows) == 0 {
		return
	}
	var points []float64
	for _, p := range funds.points() {
		if p > rows[0].cost.Time && p <= clock {
			points = append(points, p)
		}
	}
	for _, r := range rows {
		r.since = -1
	}
	t := rows[0].cost.Time
	for {
		remaining := new(big.Int).Set(funds.at(t))
		for _, r := range rows {
			if r.cost.Time > t {
				break
			}
			if r.removedAt != 0 && r.removedAt <= t {
				continue
			}
			if remaining.Cmp(r.need) >= 0 {
				remaining.Sub(remaining, r.need)
				r.since = -1
			} else if r.since < 0 {
				r.since = t
			}
		}
		next := math.Inf(1)
		for len(points) > 0 && points[0] <= t {
			points = points[1:]
		}
		if len(points) > 0 {
			next = points[0]
		}
		for _, r := range rows {
			if r.cost.Time > t && r.cost.Time < next {
				next = r.cost.Time // a row joins the walk
			}
			if r.since >= 0 && r.removedAt == 0 && r.since+grace < next {
				next = r.since + grace
			}
		}
		if next > clock {
			return
		}
		for _, r := range rows {
			if r.since >= 0 && r.removedAt == 0 && r.since+grace <= next {
				r.removedAt = r.since + grace
			}
		}
		t = next
	}
}

// CollectResult counts what a collection pass changed.
type CollectResult struct {
	Clock      float64 // the log clock the pass ran at
	Owners     int     // owners walked
	Removing   int     // messages that became removing
	Restored   int     // removing messages covered again (processed)
	Removed    int     // messages removed
	BytesFreed int64   // sizes of the files removed STOREs left without pins
}

// Collect runs one collection pass at the log clock. Files of removed
// STOREs are unpinned; the garbage collector deletes them.
func (n *Node) Collect(ctx context.Context) (CollectResult, error) {
	var res CollectResult
	clock, err := n.store.LogClock(ctx)
	if err != nil {
		return res, err
	}
	if n.balanceClock != nil {
		// A confirmation read by the chain reader may be dated after
		// balance changes the token follower has not read yet: the pass
		// must not run past what the balances cover, or it would remove
		// what a transfer not yet read pays for (removals are final).
		clock = min(clock, n.balanceClock())
	}
	res.Clock = clock
	grace := n.econ.cfg.CollectGrace.Seconds()
	for _, job := range collectJobs {
		owners, err := n.store.CostOwners(ctx, job.payment)
		if err != nil {
			return res, err
		}
		before := res
		for _, owner := range owners {
			if err := ctx.Err(); err != nil {
				break
			}
			var got CollectResult // counted once committed
			err = n.store.Update(ctx, func(tx store.Tx) error {
				got = CollectResult{}
				return n.collectOwner(ctx, tx, job, owner, clock, grace, &got)
			})
			if err != nil {
				break
			}
			res.Owners++
			res.Removing += got.Removing
			res.Restored += got.Restored
			res.Removed += got.Removed
			res.BytesFreed += got.BytesFreed
		}
		// What the committed owners changed counts, even when a later
		// one failed.
		n.metrics.collectRemoving.WithLabelValues(job.payment).Add(float64(res.Removing - before.Removing))
		n.metrics.collectRemoved.WithLabelValues(job.payment).Add(float64(res.Removed - before.Removed))
		n.metrics.collectBytesFreed.WithLabelValues(job.payment).Add(float64(res.BytesFreed - before.BytesFreed))
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return res, err
		}
	}
	n.log.Info("collection pass", "clock", clock, "owners", res.Owners, "removing", res.Removing,
		"restored", res.Restored, "removed", res.Removed, "bytes_freed", res.BytesFreed)
	return res, nil
}

// collectOwner walks one owner's rows of a job and stores the outcome.
func (n *Node) collectOwner(ctx context.Context, tx store.Tx, job collectJob, owner string, clock, grace float64, res *CollectResult) error {
	costs, err := tx.Costs(ctx, owner)
	if err != nil {
		return err
	}
	states, err := tx.Collections(ctx, owner)
	if err != nil {
		return err
	}
	stored := make(map[string]store.Collection, len(states))
	for _, s := range states {
		stored[s.ItemHash] = s
	}
	var rows []*collectRow
	for _, c := range costs {
		if r := newCollectRow(job, c, states, clock); r != nil {
			rows = append(rows, r)
		}
	}
	funds, err := job.funds(ctx, tx, owner, clock)
	if err != nil {
		return err
	}
	walkCollection(rows, funds, clock, grace)
	for _, r := range rows {
		s, had := stored[r.cost.ItemHash]
		switch {
		case r.fixed:
		case r.removedAt != 0:
			if !had {
				res.Removing++ // removing and removed in the same pass
			}
			if err := n.removeCollected(ctx, tx, r, job.reason, res); err != nil {
				return err
			}
			res.Removed++
		case r.since >= 0:
			if had && s.Since == r.since && s.Reason == job.reason {
				continue
			}
			if !had {
				res.Removing++
			}
			if err := tx.PutCollection(&store.Collection{ItemHash: r.cost.ItemHash, Owner: r.cost.Owner,
				Reason: job.reason, Since: r.since}); err != nil {
				return err
			}
		case had:
			if err := tx.DeleteCollection(r.cost.ItemHash); err != nil {
				return err
			}
			res.Restored++
		}
	}
	return nil
}

// removeCollected marks a message removed and unpins what it kept: a
// STORE's file goes with the next garbage collection unless another
// message pins it too.
func (n *Node) removeCollected(ctx context.Context, tx store.Tx, r *collectRow, reason string, res *CollectResult) error {
	if err := tx.PutCollection(&store.Collection{ItemHash: r.cost.ItemHash, Owner: r.cost.Owner, Reason: reason,
		Since: r.since, RemovedAt: r.removedAt}); err != nil {
		return err
	}
	rec, err := tx.Message(ctx, r.cost.ItemHash)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || rec.Type != message.TypeStore {
		return err
	}
	if err := tx.DeletePins(rec.ItemHash); err != nil {
		return err
	}
	count, err := tx.PinCount(ctx, rec.ContentItemHash)
	if err != nil || count > 0 {
		return err
	}
	if f, err := tx.File(ctx, rec.ContentItemHash); err == nil {
		res.BytesFreed += f.Size
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// removedAt returns the item hashes of owner's hold-paid messages
// positioned before (at, hash) that are removed at position at: admission
// does not count them as held. It walks the collection up to at rather
// than reading what passes stored, so that a node replaying the log
// without running passes in between admits the same messages.
func (n *Node) removedAt(ctx context.Context, tx store.Tx, owner string, at float64, hash string) (map[string]bool, error) {
	job := holdJob
	costs, err := tx.Costs(ctx, owner)
	if err != nil {
		return nil, err
	}
	states, err := tx.Collections(ctx, owner)
	if err != nil {
		return nil, err
	}
	var rows []*collectRow
	for _, c := range costs {
		if c.Time > at || (c.Time == at && c.ItemHash >= hash) {
			break // costs are by time then item hash
		}
		if r := newCollectRow(job, c, states, at); r != nil {
			rows = append(rows, r)
		}
	}
	out := map[string]bool{}
	if len(rows) == 0 {
		return out, nil
	}
	funds, err := job.funds(ctx, tx, owner, at)
	if err != nil {
		return nil, err
	}
	walkCollection(rows, funds, at, n.econ.cfg.CollectGrace.Seconds())
	for _, r := range rows {
		if r.removedAt != 0 && r.removedAt <= at {
			out[r.cost.ItemHash] = true
		}
	}
	return out, nil
}

// newCollectRow returns the walk row of a cost row of job's payment type,
// removed from its stored position when a pass removed it at or before
// clock; nil for a row the job does not walk.
func newCollectRow(job collectJob, c store.Cost, states []store.Collection, clock float64) *collectRow {
	need := job.need(c)
	if c.PaymentType != job.payment || need == nil || need.Sign() <= 0 || c.Time > clock {
		return nil
	}
	r := &collectRow{cost: c, need: need}
	for _, s := range states {
		if s.ItemHash == c.ItemHash && s.RemovedAt != 0 && s.RemovedAt <= clock {
			r.removedAt, r.fixed = s.RemovedAt, true
		}
	}
	return r
}

// runCollect runs a collection pass every CollectPeriod, then collects the
// garbage when the pass removed something, so that the files of removed
// STOREs go at once rather than at the next garbage collection.
func (n *Node) runCollect(ctx context.Context) error {
	t := time.NewTicker(n.econ.cfg.CollectPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			res, err := n.Collect(ctx)
			if err != nil && ctx.Err() == nil {
				n.log.Error("collection pass", "err", err)
			}
			if res.Removed > 0 {
				if _, err := n.CollectGarbage(ctx, time.Now()); err != nil && ctx.Err() == nil {
					n.log.Error("garbage collection", "err", err)
				}
			}
		}
	}
}
