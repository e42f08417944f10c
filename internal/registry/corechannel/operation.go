package corechannel

import (
	"encoding/json"
	"math/big"
	"net/url"
	"strings"
)

// operation is the content of a corechan-operation or amend post.
type operation struct {
	Action  string                     `json:"action"`
	Tags    []any                      `json:"tags"`
	Details map[string]json.RawMessage `json:"details"`
}

// applyOperation is spec §1.4: an operation that matches no rule is
// refused and changes nothing.
func (st *State) applyOperation(ev Event) Outcome {
	var op operation
	if err := json.Unmarshal(ev.Content, &op); err != nil {
		return Malformed
	}
	if !hasTag(op.Tags, st.set.Tag) {
		return Skipped
	}
	if op.Details == nil {
		op.Details = map[string]json.RawMessage{}
	}
	addr := Address(ev.Sender)
	if ev.PostType == AmendType {
		return st.amend(ev, addr, op.Details)
	}
	ok := false
	switch op.Action {
	case "create-node":
		ok = st.createCCN(ev, addr, op.Details)
	case "create-resource-node":
		ok = st.createCRN(ev, addr, op.Details)
	case "link":
		ok = st.link(addr, ev.Ref)
	case "unlink":
		ok = st.unlink(addr, ev.Ref)
	case "drop-node":
		ok = st.drop(addr, ev.Ref)
	case "stake", "stake-split":
		ok = st.stake(addr, ev.Ref, op.Action == "stake-split")
	case "unstake":
		ok = st.unstake(addr, ev.Ref)
	default:
		return Malformed
	}
	if ok {
		return Applied
	}
	return Refused
}

func (st *State) createCCN(ev Event, addr string, d map[string]json.RawMessage) bool {
	if _, owns := st.owners[addr]; owns || st.balance(addr).Cmp(st.set.NodeThreshold) < 0 {
		return false
	}
	if _, dup := st.ccns[ev.Hash]; dup {
		return false
	}
	n := &CCN{Hash: ev.Hash, Owner: addr, Reward: addr, Manager: addr, Locked: truthy(d["locked"]),
		Authorized: []string{}, Fields: map[string]json.RawMessage{}, Stakers: map[string]*big.Int{},
		TotalStaked: new(big.Int), Status: "waiting", Time: ev.Time, ResourceNodes: []string{}, scores: newScores()}
	if s, ok := stringOf(d["reward"]); ok {
		n.Reward = Address(s)
	}
	if s, ok := stringOf(d["manager"]); ok {
		n.Manager = Address(s)
	}
	setFields(n.Fields, d, nil)
	n.Fields["multiaddress"] = st.uniqueMultiaddress(n.Hash, n.Fields["multiaddress"])
	st.ccns[n.Hash] = n
	st.ccnOrder = append(st.ccnOrder, n.Hash)
	st.owners[addr] = n.Hash
	if _, stakes := st.staking[addr]; stakes {
		// Owners cannot stake.
		st.removeStake(addr, "")
	}
	return true
}

func (st *State) createCRN(ev Event, addr string, d map[string]json.RawMessage) bool {
	typ, ok := d["type"]
	if !ok {
		return false
	}
	if _, dup := st.crns[ev.Hash]; dup {
		return false
	}
	t, _ := stringOf(typ)
	r := &CRN{Hash: ev.Hash, Type: t, Owner: addr, Reward: addr, Manager: addr, Locked: truthy(d["locked"]),
		Authorized: addresses(d["authorized"]), Fields: map[string]json.RawMessage{}, Status: "waiting",
		Time: ev.Time, scores: newScores()}
	if s, ok := stringOf(d["reward"]); ok {
		r.Reward = Address(s)
	}
	if s, ok := stringOf(d["manager"]); ok {
		r.Manager = Address(s)
	}
	setFields(r.Fields, d, nil)
	r.Fields["address"] = st.uniqueAddress(r.Hash, r.Fields["address"])
	st.crns[r.Hash] = r
	st.crnOrder = append(st.crnOrder, r.Hash)
	return true
}

// setFields copies the text fields of d into f; a field d lacks keeps its
// value in old, else "".
func setFields(f, d, old map[string]json.RawMessage) {
	for _, k := range textFields {
		v, ok := d[k]
		if !ok {
			v, ok = old[k]
		}
		if !ok {
			v = json.RawMessage(`""`)
		}
		f[k] = compact(v)
	}
}

// compact validates and compacts a value, so that the served bytes do
// not depend on how the sender spaced its JSON.
func compact(v json.RawMessage) json.RawMessage {
	out, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`""`)
	}
	return out
}

// multiaddrHost is the host component (ip4, ip6, dns*) of a multiaddress.
func multiaddrHost(m string) string {
	parts := strings.Split(m, "/")
	for i := 0; i+1 < len(parts); i++ {
		switch parts[i] {
		case "ip4", "ip6", "dns", "dns4", "dns6", "dnsaddr":
			return lower(parts[i+1])
		}
	}
	return ""
}

func urlHost(a string) string {
	u, err := url.Parse(a)
	if err != nil {
		return ""
	}
	return lower(u.Hostname())
}

// uniqueMultiaddress stores "" for a multiaddress whose host another CCN
// already uses.
func (st *State) uniqueMultiaddress(self string, raw json.RawMessage) json.RawMessage {
	s, _ := stringOf(raw)
	host := multiaddrHost(s)
	if host == "" {
		return raw
	}
	for _, h := range st.ccnOrder {
		if o := st.ccns[h]; h != self {
			if os, _ := stringOf(o.Fields["multiaddress"]); multiaddrHost(os) == host {
				return json.RawMessage(`""`)
			}
		}
	}
	return raw
}

// uniqueAddress stores "" for a CRN URL whose host name another CRN
// already uses.
func (st *State) uniqueAddress(self string, raw json.RawMessage) json.RawMessage {
	s, _ := stringOf(raw)
	host := urlHost(s)
	if host == "" {
		return raw
	}
	for _, h := range st.crnOrder {
		if o := st.crns[h]; h != self {
			if os, _ := stringOf(o.Fields["address"]); urlHost(os) == host {
				return json.RawMessage(`""`)
			}
		}
	}
	return raw
}

func (st *State) link(addr, ref string) bool {
	h, owns := st.owners[addr]
	if !owns || ref == "" {
		return false
	}
	n, r := st.ccns[h], st.crns[ref]
	if len(n.ResourceNodes) >= st.set.MaxLinked || r == nil || contains(n.ResourceNodes, ref) || r.Parent != "" || r.Locked {
		return false
	}
	n.ResourceNodes = append(n.ResourceNodes, ref)
	r.Parent, r.Status = h, "linked"
	st.updateStats(h)
	return true
}

func (st *State) unlink(addr, ref string) bool {
	r := st.crns[ref]
	if r == nil || r.Parent == "" {
		return false
	}
	if h, owns := st.owners[addr]; !(owns && h == r.Parent) && r.Owner != addr {
		return false
	}
	p := st.ccns[r.Parent]
	p.ResourceNodes = without(p.ResourceNodes, ref)
	r.Parent, r.Status = "", "waiting"
	st.updateStats(p.Hash)
	return true
}

func (st *State) drop(addr, ref string) bool {
	if h, owns := st.owners[addr]; owns && ref != "" && ref == h {
		st.removeCCN(h)
		return true
	}
	if r := st.crns[ref]; r != nil && r.Owner == addr {
		st.removeCRN(ref)
		return true
	}
	return false
}

func (st *State) stake(addr, ref string, split bool) bool {
	n := st.ccns[ref]
	if n == nil || st.balance(addr).Cmp(st.set.StakingThreshold) < 0 {
		return false
	}
	if _, owns := st.owners[addr]; owns {
		return false
	}
	if n.Locked && !contains(n.Authorized, addr) {
		return false
	}
	if !split {
		if _, stakes := st.staking[addr]; stakes {
			st.removeStake(addr, "")
		}
		n.Stakers[addr] = st.balance(addr)
		st.staking[addr] = []string{ref}
		st.updateStats(ref)
		return true
	}
	if contains(st.staking[addr], ref) {
		return false
	}
	st.staking[addr] = append(st.staking[addr], ref)
	n.Stakers[addr] = new(big.Int)
	for _, h := range st.staking[addr] {
		st.updateStats(h)
	}
	return true
}

func (st *State) unstake(addr, ref string) bool {
	if ref == "" || !contains(st.staking[addr], ref) {
		return false
	}
	st.removeStake(addr, ref)
	return true
}

// amend edits a node's fields: a CCN's by its owner (while it owns one)
// or manager, a CRN's by its owner or manager.
func (st *State) amend(ev Event, addr string, d map[string]json.RawMessage) Outcome {
	if n := st.ccns[ev.Ref]; n != nil {
		if _, owns := st.owners[addr]; !(n.Owner == addr && owns) && n.Manager != addr {
			return Refused
		}
		amendCommon(&n.Reward, &n.Manager, &n.Authorized, &n.Locked, addr, d)
		setFields(n.Fields, d, n.Fields)
		if _, ok := d["multiaddress"]; ok {
			n.Fields["multiaddress"] = st.uniqueMultiaddress(n.Hash, n.Fields["multiaddress"])
		}
		return Applied
	}
	if r := st.crns[ev.Ref]; r != nil {
		if r.Owner != addr && r.Manager != addr {
			return Refused
		}
		amendCommon(&r.Reward, &r.Manager, &r.Authorized, &r.Locked, addr, d)
		setFields(r.Fields, d, r.Fields)
		r.Fields["address"] = st.uniqueAddress(r.Hash, r.Fields["address"])
		return Applied
	}
	return Refused
}

// amendCommon applies the defaults of spec §1.4: reward and manager keep
// their value (or the sender), authorized its value, locked is coerced to
// a bool.
func amendCommon(reward, manager *string, authorized *[]string, locked *bool, addr string, d map[string]json.RawMessage) {
	for _, f := range []struct {
		key string
		v   *string
	}{{"reward", reward}, {"manager", manager}} {
		if raw, ok := d[f.key]; ok {
			if s, ok := stringOf(raw); ok {
				*f.v = Address(s)
			}
		} else if *f.v == "" {
			*f.v = addr
		}
	}
	if raw, ok := d["authorized"]; ok {
		*authorized = addresses(raw)
	}
	if raw, ok := d["locked"]; ok {
		*locked = truthy(raw)
	}
}

// scoresPost is the content of an aleph-scoring-scores post.
type scoresPost struct {
	Tags   []any `json:"tags"`
	Scores struct {
		CCN []scoreEntry `json:"ccn"`
		CRN []scoreEntry `json:"crn"`
	} `json:"scores"`
}

type scoreEntry struct {
	NodeID           string          `json:"node_id"`
	TotalScore       json.RawMessage `json:"total_score"`
	Performance      json.RawMessage `json:"performance"`
	Decentralization json.RawMessage `json:"decentralization"`
}

// applyScores is spec §1.6.
func (st *State) applyScores(ev Event) Outcome {
	if !st.scorers[Address(ev.Sender)] {
		return Skipped
	}
	var p scoresPost
	if err := json.Unmarshal(ev.Content, &p); err != nil {
		return Malformed
	}
	if !hasTag(p.Tags, st.set.Tag) {
		return Skipped
	}
	merge := st.lastScore != nil && ev.Time-*st.lastScore <= st.set.ScoreMergeWindow
	t := ev.Time
	st.lastScore = &t
	for _, e := range p.Scores.CCN {
		if n := st.ccns[e.NodeID]; n != nil {
			st.score(&n.scores, e, t, merge)
		}
	}
	for _, e := range p.Scores.CRN {
		r := st.crns[e.NodeID]
		if r == nil || !st.score(&r.scores, e, t, merge) {
			continue
		}
		if r.InactiveSince != nil && r.Parent == "" && t-*r.InactiveSince > st.set.InactivityPeriod {
			st.removeCRN(r.Hash)
		}
	}
	return Applied
}

var inactiveBelow = big.NewRat(1, 100)

// score sets one node's scores; an entry whose values are not numbers is
// skipped.
func (st *State) score(s *scores, e scoreEntry, t float64, merge bool) bool {
	total, ok1 := scoreOf(e.TotalScore)
	perf, ok2 := scoreOf(e.Performance)
	dec, ok3 := scoreOf(e.Decentralization)
	if !ok1 || !ok2 || !ok3 {
		return false
	}
	if merge {
		total, perf = maxScore(total, s.Score), maxScore(perf, s.Performance)
	}
	s.Score, s.Performance, s.Decentralization, s.Updated = total, perf, dec, true
	if total.Rat.Cmp(inactiveBelow) < 0 {
		if s.InactiveSince == nil {
			s.InactiveSince = &t
		}
	} else {
		s.InactiveSince = nil
	}
	return true
}
