package node

import (
	"bytes"
	"encoding/json"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/goaleph/goaleph/internal/balances"
	"github.com/goaleph/goaleph/internal/store"
)

// BalancesConfig says which POSTs update token balances (the reference's
// balances section). Zero fields take the mainnet defaults.
type BalancesConfig struct {
	// Addresses are the content addresses whose posts of PostType are
	// applied (compared exactly, as the reference does). Default
	// balances.TrustedSenders.
	Addresses []string
	// PostType is the type of those posts. Default "balances-update".
	PostType string
}

// balanceUpdates applies trusted balances-update posts. What it writes
// depends only on the message: the content's heights, never the clock.
type balanceUpdates struct {
	trusted  map[string]bool
	postType string
	// updated counts balance rows written, by source ("post"; the token
	// follower counts "chain").
	updated *prometheus.CounterVec
}

func newBalanceUpdates(cfg BalancesConfig, reg prometheus.Registerer) *balanceUpdates {
	addrs := cfg.Addresses
	if addrs == nil {
		addrs = balances.TrustedSenders
	}
	b := &balanceUpdates{trusted: map[string]bool{}, postType: cfg.PostType, updated: balanceUpdatesMetric()}
	if b.postType == "" {
		b.postType = balances.PostType
	}
	for _, a := range addrs {
		b.trusted[a] = true
	}
	reg.MustRegister(b.updated)
	return b
}

func balanceUpdatesMetric() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_balance_updates_total",
		Help: "Balance rows written, by source: post (trusted balances-update posts) or chain (the token follower)."}, []string{"source"})
}

// update returns the balance update a POST carries: nil unless it is a
// balances-update from a trusted address with a non-empty content. A
// malformed update is an error with code 0 (the check stage rejects the
// message, as the reference does).
func (b *balanceUpdates) update(it *item) (*balances.Update, error) {
	p := it.content.Post
	if b == nil || p.Type != b.postType || !b.trusted[it.content.Address] || emptyJSON(p.Content) {
		return nil, nil
	}
	return balances.ParseUpdate(p.Content)
}

// apply stores the balances of a checked POST's update, if any; any other
// POST changes nothing.
func (b *balanceUpdates) apply(tx store.Tx, it *item) error {
	u, err := b.update(it)
	if u == nil || err != nil {
		return err
	}
	for i := range u.Balances {
		u.Balances[i].Time = it.msg.Time // the update's position in the log
	}
	n, err := tx.UpdateBalances(u.Balances)
	if err != nil {
		return err
	}
	b.updated.WithLabelValues("post").Add(float64(n))
	return nil
}

// emptyJSON tells whether a content is absent or falsy as the reference
// sees it (null, {}, [], "", 0, false).
func emptyJSON(raw json.RawMessage) bool {
	switch string(bytes.TrimSpace(raw)) {
	case "", "null", "{}", "[]", `""`, "0", "false":
		return true
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return true
	}
	switch x := v.(type) {
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}
