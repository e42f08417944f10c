package node

import (
	"context"
	"encoding/json"
	"math"
	"math/big"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/goaleph/goaleph/internal/registry/corechannel"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// RegistryAddress is the reference's owner of the corechannel aggregate
// (the aleph-nodestatus sender): the node serves its registry there.
const RegistryAddress = "0xa1B3bb7d2332383D96b7796B908fB7f7F3c2Be10"

// Defaults of RegistryConfig (whole tokens), the reference's thresholds.
const (
	DefaultNodeThreshold    = 199_999
	DefaultNodeActivation   = 500_000
	DefaultStakingThreshold = 9_999
	DefaultMaxLinked        = 8
	DefaultStakingChain     = "ETH"
)

// RegistryConfig configures the node registry: every core node computes
// it from its own message log and balances and serves it as the
// corechannel aggregate of Address.
type RegistryConfig struct {
	// Address owns the served aggregate; empty: RegistryAddress.
	Address string
	// StakingChain is the chain whose balances (own and dApp rows) count
	// for staking; empty: ETH.
	StakingChain string
	// NodeThreshold, NodeActivation and StakingThreshold are in whole
	// tokens; MaxLinked is the CRNs per CCN. Zero: the defaults.
	NodeThreshold, NodeActivation, StakingThreshold int64
	MaxLinked                                       int
	// Scorers are the addresses whose aleph-scoring-scores posts count;
	// nil: the reference's two.
	Scorers []string
}

func (c RegistryConfig) withDefaults() RegistryConfig {
	if c.Address == "" {
		c.Address = RegistryAddress
	}
	if c.StakingChain == "" {
		c.StakingChain = DefaultStakingChain
	}
	for _, f := range []struct {
		v   *int64
		def int64
	}{{&c.NodeThreshold, DefaultNodeThreshold}, {&c.NodeActivation, DefaultNodeActivation}, {&c.StakingThreshold, DefaultStakingThreshold}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if c.MaxLinked == 0 {
		c.MaxLinked = DefaultMaxLinked
	}
	return c
}

// settings are the reducer's settings.
func (c RegistryConfig) settings() corechannel.Settings {
	s := corechannel.DefaultSettings()
	tok := func(n int64) *big.Int {
		return new(big.Int).Mul(big.NewInt(n), new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil))
	}
	s.NodeThreshold, s.NodeActivation, s.StakingThreshold = tok(c.NodeThreshold), tok(c.NodeActivation), tok(c.StakingThreshold)
	s.MaxLinked = c.MaxLinked
	if c.Scorers != nil {
		s.Scorers = c.Scorers
	}
	return s
}

// registry computes the node registry on demand.
type registry struct {
	cfg      RegistryConfig
	set      corechannel.Settings
	outcomes *prometheus.GaugeVec
}

func newRegistry(cfg RegistryConfig, reg *prometheus.Registry) *registry {
	cfg = cfg.withDefaults()
	r := &registry{cfg: cfg, set: cfg.settings(), outcomes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "aleph_registry_events",
		Help: "Registry events of the message log in the last computation of the registry, by outcome (applied, refused, malformed, skipped) and post type.",
	}, []string{"outcome", "type"})}
	reg.MustRegister(r.outcomes)
	return r
}

// postContent is the part of a POST's content the registry reads.
type postContent struct {
	Address string          `json:"address"`
	Type    string          `json:"type"`
	Ref     string          `json:"ref"`
	Content json.RawMessage `json:"content"`
}

// NodeRegistry replays the node's registry posts and staking balances into the
// registry state. Two nodes holding the same messages, confirmations and
// balances compute the same state, whatever order they received them in.
func (n *Node) NodeRegistry(ctx context.Context) (*corechannel.State, error) {
	r := n.registry
	page, err := n.store.ListMessages(ctx, store.MessageFilter{Types: []message.Type{message.TypePost},
		ContentTypes: []string{corechannel.OperationType, corechannel.AmendType, corechannel.ScoresType},
		Tags:         []string{r.set.Tag}, SortAsc: true})
	if err != nil {
		return nil, err
	}
	hashes := make([]string, len(page.Records))
	for i, rec := range page.Records {
		hashes[i] = rec.ItemHash
	}
	confs, err := n.store.Confirmations(ctx, hashes)
	if err != nil {
		return nil, err
	}
	var evs []corechannel.Event
	senders := map[string]bool{}
	for _, rec := range page.Records {
		var c postContent
		if json.Unmarshal(rec.Content, &c) != nil {
			continue // the pipeline stored it; a POST content always parses
		}
		h := int64(math.MaxInt64)
		for _, cf := range confs[rec.ItemHash] {
			if cf.Chain == r.cfg.StakingChain && int64(cf.Height) < h {
				h = int64(cf.Height)
			}
		}
		evs = append(evs, corechannel.Event{Kind: corechannel.KindMessage, Height: h, Time: rec.Time, Hash: rec.ItemHash,
			Sender: c.Address, PostType: c.Type, Ref: c.Ref, Content: c.Content})
		if c.Type != corechannel.ScoresType {
			senders[corechannel.Address(c.Address)] = true
		}
	}
	addrs := make([]string, 0, len(senders))
	for a := range senders {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		hist, err := n.store.BalanceHistory(ctx, a, math.MaxFloat64)
		if err != nil {
			return nil, err
		}
		evs = append(evs, stakingEvents(a, r.cfg.StakingChain, hist)...)
	}
	counts := map[[2]string]int{}
	st := corechannel.Replay(r.set, evs, func(ev corechannel.Event, o corechannel.Outcome) {
		typ := ev.PostType
		if ev.Kind == corechannel.KindBalance {
			typ = "balance"
		}
		counts[[2]string{string(o), typ}]++
	})
	r.outcomes.Reset()
	for k, v := range counts {
		r.outcomes.WithLabelValues(k[0], k[1]).Set(float64(v))
	}
	return st, nil
}

// stakingEvents turns an address's balance history into its staking
// balance at each height it changed: the sum, over the staking chain's
// rows (own and dApps), of each row's value of greatest height so far.
func stakingEvents(addr, chain string, hist []store.Balance) []corechannel.Event {
	var rows []store.Balance
	for _, b := range hist {
		if strings.EqualFold(b.Chain, chain) {
			rows = append(rows, b)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Height != rows[j].Height {
			return rows[i].Height < rows[j].Height
		}
		if rows[i].Dapp != rows[j].Dapp {
			return rows[i].Dapp < rows[j].Dapp
		}
		return rows[i].Time < rows[j].Time
	})
	cur := map[string]*big.Int{}
	var evs []corechannel.Event
	for i, b := range rows {
		cur[b.Dapp] = b.Amount
		if i+1 < len(rows) && rows[i+1].Height == b.Height {
			continue
		}
		sum := new(big.Int)
		for _, v := range cur {
			sum.Add(sum, v)
		}
		evs = append(evs, corechannel.Event{Kind: corechannel.KindBalance, Height: b.Height, Address: addr, Balance: sum})
	}
	return evs
}

// virtualAggregates serves the registry as the corechannel aggregate of
// its address.
func (n *Node) virtualAggregates(ctx context.Context, address string, keys []string) ([]store.Aggregate, error) {
	if !strings.EqualFold(address, n.registry.cfg.Address) {
		return nil, nil
	}
	if len(keys) > 0 {
		want := false
		for _, k := range keys {
			want = want || k == corechannel.AggregateKey
		}
		if !want {
			return nil, nil
		}
	}
	st, err := n.NodeRegistry(ctx)
	if err != nil {
		return nil, err
	}
	return []store.Aggregate{{Owner: n.registry.cfg.Address, Key: corechannel.AggregateKey, Content: st.JSON()}}, nil
}
