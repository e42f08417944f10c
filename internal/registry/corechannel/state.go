// Package corechannel is the node registry of the network: which core
// channel nodes (CCNs) and compute resource nodes (CRNs) exist, who owns,
// stakes on and links them, and their scores. It is a deterministic
// reducer over events of the message log (corechan-operation and amend
// posts, aleph-scoring-scores posts) and over staking balances, in the
// reference's rules (aleph-nodestatus), so that every core node computes
// the same state and serves it, byte for byte, as the reference's
// corechannel aggregate. It does no I/O.
package corechannel

import (
	"encoding/json"
	"math/big"
	"sort"
	"strings"

	"github.com/ethereum/go-ethereum/common"
)

// Post types and actions of the reference.
const (
	OperationType = "corechan-operation"
	AmendType     = "amend"
	ScoresType    = "aleph-scoring-scores"
)

// Kind tells what an Event carries.
type Kind int

const (
	// KindBalance is a staking balance change. Within one position it
	// sorts before messages, as the reference's non-message items do.
	KindBalance Kind = iota
	// KindMessage is a POST of the message log.
	KindMessage
)

// Event is one input of the reducer.
type Event struct {
	Kind Kind
	// Height is the event's chain height, the first key of its position
	// (the reference merges its inputs by ETH height): a balance change's
	// block, a message's first confirmation, or math.MaxInt64 for a
	// message not confirmed yet (the reference gives those the current
	// height, after every balance change it knows).
	Height int64
	// Time is a message's time: the second key of its position, and the
	// clock of score windows and inactivity.
	Time float64
	// Hash is the message's item hash (messages only).
	Hash string
	// Sender is the post's content.address; PostType its content.type; Ref
	// its content.ref; Content its content.content.
	Sender   string
	PostType string
	Ref      string
	Content  json.RawMessage
	// Address and Balance are a balance change: Address's staking balance
	// is Balance from Time on (base units).
	Address string
	Balance *big.Int
}

// Sort orders events by position: height, then balances before messages,
// then time, then item hash (or address), so that the order they arrived
// in does not matter.
func Sort(evs []Event) {
	sort.SliceStable(evs, func(i, j int) bool {
		a, b := &evs[i], &evs[j]
		if a.Height != b.Height {
			return a.Height < b.Height
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Time != b.Time {
			return a.Time < b.Time
		}
		if a.Hash != b.Hash {
			return a.Hash < b.Hash
		}
		return a.Address < b.Address
	})
}

// Outcome is what the reducer did with one event.
type Outcome string

// Outcomes. Refused and Malformed events change nothing, as the reference
// ignores them; they are counted.
const (
	Applied   Outcome = "applied"
	Refused   Outcome = "refused"   // no rule matched (unauthorised, threshold, limit)
	Malformed Outcome = "malformed" // content that is not the reference's shape
	Skipped   Outcome = "skipped"   // not a registry event (other tag, other scorer)
)

// tokens converts whole tokens to base units.
func tokens(n int64) *big.Int {
	return new(big.Int).Mul(big.NewInt(n), new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil))
}

// Settings are the registry's thresholds, the reference's values by
// default (DefaultSettings).
type Settings struct {
	// NodeThreshold is the owner balance needed to create and keep a CCN.
	NodeThreshold *big.Int
	// NodeActivation is the total stake that makes a CCN active, less one
	// token of tolerance.
	NodeActivation *big.Int
	// StakingThreshold is the balance needed to stake.
	StakingThreshold *big.Int
	// MaxLinked is the number of CRNs one CCN may link.
	MaxLinked int
	// InactivityPeriod (seconds) is how long an unlinked CRN may score
	// below 0.01 before it is deleted.
	InactivityPeriod float64
	// ScoreMergeWindow (seconds): a score post this close to the previous
	// one keeps the greater score and performance of the two.
	ScoreMergeWindow float64
	// Tag is the tag registry posts must carry ("mainnet").
	Tag string
	// Scorers are the addresses whose score posts count.
	Scorers []string
}

// DefaultSettings are the reference's thresholds: 199,999 tokens to own a
// CCN, 500,000 staked to activate it, 9,999 to stake, 8 CRNs per CCN, 90
// days of inactivity, 10 blocks (120 s) of score merging.
func DefaultSettings() Settings {
	return Settings{
		NodeThreshold:    tokens(199_999),
		NodeActivation:   tokens(500_000),
		StakingThreshold: tokens(9_999),
		MaxLinked:        8,
		InactivityPeriod: 90 * 86400,
		ScoreMergeWindow: 120,
		Tag:              "mainnet",
		Scorers: []string{"0x4D52380D3191274a04846c89c069E6C3F2Ed94e4",
			"0x4Ec8b55e73F5f32118a90B8FD555706bD5dd42e7"},
	}
}

// Address normalises an address: the checksummed form of an Ethereum
// address, any other text unchanged, so that lookups do not depend on the
// case a sender wrote.
func Address(s string) string {
	if common.IsHexAddress(s) {
		return common.HexToAddress(s).Hex()
	}
	return s
}

// Score is a score as a scorer wrote it: exact (Rat) and as the text the
// aggregate serves.
type Score struct {
	Rat  *big.Rat
	Text string
}

func zeroScore() Score { return Score{Rat: new(big.Rat), Text: "0"} }

// scoreOf parses a score value and clamps it to [0, 1].
func scoreOf(raw json.RawMessage) (Score, bool) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil || len(n) > 64 {
		return Score{}, false
	}
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return Score{}, false
	}
	switch {
	case r.Sign() < 0:
		return zeroScore(), true
	case r.Cmp(big.NewRat(1, 1)) > 0:
		return Score{Rat: big.NewRat(1, 1), Text: "1"}, true
	}
	return Score{Rat: r, Text: string(n)}, true
}

func maxScore(a, b Score) Score {
	if a.Rat.Cmp(b.Rat) >= 0 {
		return a
	}
	return b
}

// scores of one node.
type scores struct {
	Score, Performance, Decentralization Score
	Updated                              bool
	// InactiveSince is the position the node's score fell below 0.01,
	// nil while it scores above.
	InactiveSince *float64
}

func newScores() scores {
	return scores{Score: zeroScore(), Performance: zeroScore(), Decentralization: zeroScore()}
}

// textFields are the editable fields kept as the JSON value the owner
// wrote ("" when absent).
var textFields = []string{"name", "multiaddress", "address", "picture", "banner", "description",
	"stream_reward", "registration_url", "terms_and_conditions"}

// CCN is a core channel node.
type CCN struct {
	Hash, Owner, Reward, Manager string
	Locked                       bool
	Authorized                   []string
	Fields                       map[string]json.RawMessage
	// Stakers maps each staker to its stake on this node (base units).
	Stakers       map[string]*big.Int
	TotalStaked   *big.Int
	Status        string // "waiting" or "active"
	Time          float64
	ResourceNodes []string // linked CRN hashes, in link order
	HasBonus      bool
	scores
}

// CRN is a compute resource node.
type CRN struct {
	Hash, Type, Owner, Reward, Manager string
	Locked                             bool
	Authorized                         []string
	Fields                             map[string]json.RawMessage
	Status                             string // "waiting" or "linked"
	Parent                             string // CCN hash, "" when unlinked
	Time                               float64
	scores
}

// State is the registry at one position of the log. The zero value is not
// usable; call New.
type State struct {
	set      Settings
	scorers  map[string]bool
	ccns     map[string]*CCN
	crns     map[string]*CRN
	ccnOrder []string // creation order, which the aggregate keeps
	crnOrder []string
	owners   map[string]string   // address → its CCN hash
	staking  map[string][]string // staker → CCN hashes, in staking order
	balances map[string]*big.Int
	// lastScore is the position of the last score post.
	lastScore *float64
}

// New returns an empty registry with settings s.
func New(s Settings) *State {
	st := &State{set: s, scorers: map[string]bool{}, ccns: map[string]*CCN{}, crns: map[string]*CRN{},
		owners: map[string]string{}, staking: map[string][]string{}, balances: map[string]*big.Int{}}
	for _, a := range s.Scorers {
		st.scorers[Address(a)] = true
	}
	return st
}

// Replay sorts evs by position and applies them to a new registry,
// calling count (if not nil) with the outcome of each.
func Replay(s Settings, evs []Event, count func(Event, Outcome)) *State {
	Sort(evs)
	st := New(s)
	for _, ev := range evs {
		o := st.Apply(ev)
		if count != nil {
			count(ev, o)
		}
	}
	return st
}

func (st *State) balance(addr string) *big.Int {
	if b := st.balances[addr]; b != nil {
		return b
	}
	return new(big.Int)
}

// Apply applies one event, in position order.
func (st *State) Apply(ev Event) Outcome {
	switch ev.Kind {
	case KindBalance:
		return st.applyBalance(Address(ev.Address), ev.Balance)
	case KindMessage:
		switch ev.PostType {
		case OperationType, AmendType:
			return st.applyOperation(ev)
		case ScoresType:
			return st.applyScores(ev)
		}
	}
	return Skipped
}

// applyBalance is spec §1.5.
func (st *State) applyBalance(addr string, b *big.Int) Outcome {
	if b == nil || b.Sign() < 0 {
		b = new(big.Int)
	}
	st.balances[addr] = new(big.Int).Set(b)
	if h, ok := st.owners[addr]; ok {
		if b.Cmp(st.set.NodeThreshold) < 0 {
			st.removeCCN(h)
		}
		return Applied
	}
	if nodes, ok := st.staking[addr]; ok {
		if b.Cmp(st.set.StakingThreshold) < 0 {
			st.removeStake(addr, "")
		} else {
			for _, h := range nodes {
				st.updateStats(h)
			}
		}
		return Applied
	}
	return Skipped
}

// updateStats recomputes a CCN's stakes from its stakers' balances, its
// total and its status.
func (st *State) updateStats(h string) {
	n := st.ccns[h]
	total := new(big.Int)
	for a := range n.Stakers {
		k := len(st.staking[a])
		if k == 0 {
			k = 1
		}
		stake := new(big.Int).Quo(st.balance(a), big.NewInt(int64(k)))
		n.Stakers[a] = stake
		total.Add(total, stake)
	}
	n.TotalStaked = total
	if total.Cmp(new(big.Int).Sub(st.set.NodeActivation, tokens(1))) >= 0 {
		n.Status = "active"
	} else {
		n.Status = "waiting"
	}
}

// removeCCN drops a CCN: its stakes go (stakers on other nodes are
// re-split) and its CRNs are unlinked.
func (st *State) removeCCN(h string) {
	n := st.ccns[h]
	update := map[string]bool{}
	for a := range n.Stakers {
		st.staking[a] = without(st.staking[a], h)
		if len(st.staking[a]) == 0 {
			delete(st.staking, a)
		}
		for _, o := range st.staking[a] {
			update[o] = true
		}
	}
	for _, r := range n.ResourceNodes {
		st.crns[r].Parent = ""
		st.crns[r].Status = "waiting"
	}
	delete(st.owners, n.Owner)
	delete(st.ccns, h)
	st.ccnOrder = without(st.ccnOrder, h)
	for _, o := range sortedKeys(update) {
		st.updateStats(o)
	}
}

func (st *State) removeCRN(h string) {
	r := st.crns[h]
	if r.Parent != "" {
		p := st.ccns[r.Parent]
		p.ResourceNodes = without(p.ResourceNodes, h)
		st.updateStats(p.Hash)
	}
	delete(st.crns, h)
	st.crnOrder = without(st.crnOrder, h)
}

// removeStake removes addr's stake on node h, or all its stakes when h is
// empty, and re-splits the rest.
func (st *State) removeStake(addr, h string) {
	nodes := append([]string(nil), st.staking[addr]...)
	if h != "" {
		st.staking[addr] = without(st.staking[addr], h)
	}
	for _, o := range nodes {
		if h == "" || o == h {
			delete(st.ccns[o].Stakers, addr)
		}
		st.updateStats(o)
	}
	if h == "" || len(st.staking[addr]) == 0 {
		delete(st.staking, addr)
	}
}

func without(s []string, v string) []string {
	out := s[:0:0]
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// hasTag reports whether content carries tag in its tags list.
func hasTag(tags []any, tag string) bool {
	for _, t := range tags {
		if s, ok := t.(string); ok && s == tag {
			return true
		}
	}
	return false
}

// truthy is Python's bool() of a JSON value, which the reference applies
// to locked.
func truthy(raw json.RawMessage) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// stringOf returns the string a JSON value holds, or "".
func stringOf(raw json.RawMessage) (string, bool) {
	var s string
	if raw == nil || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// addresses reads a list of addresses; non-strings are dropped (the
// reference accepts any value; the aggregate serves a list).
func addresses(raw json.RawMessage) []string {
	var vs []any
	if json.Unmarshal(raw, &vs) != nil {
		return []string{}
	}
	out := []string{}
	for _, v := range vs {
		if s, ok := v.(string); ok {
			out = append(out, Address(s))
		}
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// lower is the case-insensitive key of a host name.
func lower(s string) string { return strings.ToLower(s) }
