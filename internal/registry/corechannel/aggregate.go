package corechannel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"

	"github.com/goaleph/goaleph/internal/balances"
)

// AggregateKey is the key the reference publishes the registry under.
const AggregateKey = "corechannel"

// Aggregate is the corechannel aggregate's content: the CCNs and CRNs in
// creation order.
type Aggregate struct {
	Nodes         []NodeJSON     `json:"nodes"`
	ResourceNodes []ResourceJSON `json:"resource_nodes"`
}

// NodeJSON is one CCN as the aggregate serves it. Amounts are whole tokens
// as exact decimal numbers; scores are the text the scorer wrote.
type NodeJSON struct {
	Hash             string                     `json:"hash"`
	Owner            string                     `json:"owner"`
	Reward           string                     `json:"reward"`
	Manager          string                     `json:"manager"`
	Locked           bool                       `json:"locked"`
	Authorized       []string                   `json:"authorized"`
	Stakers          map[string]json.Number     `json:"stakers"`
	TotalStaked      json.Number                `json:"total_staked"`
	Status           string                     `json:"status"`
	Time             json.Number                `json:"time"`
	ResourceNodes    []string                   `json:"resource_nodes"`
	HasBonus         bool                       `json:"has_bonus"`
	Score            json.Number                `json:"score"`
	Performance      json.Number                `json:"performance"`
	Decentralization json.Number                `json:"decentralization"`
	ScoreUpdated     bool                       `json:"score_updated"`
	InactiveSince    *json.Number               `json:"inactive_since"`
	Fields           map[string]json.RawMessage `json:"-"`
}

// ResourceJSON is one CRN as the aggregate serves it.
type ResourceJSON struct {
	Hash             string                     `json:"hash"`
	Type             string                     `json:"type"`
	Owner            string                     `json:"owner"`
	Reward           string                     `json:"reward"`
	Manager          string                     `json:"manager"`
	Locked           bool                       `json:"locked"`
	Authorized       []string                   `json:"authorized"`
	Status           string                     `json:"status"`
	Parent           *string                    `json:"parent"`
	Time             json.Number                `json:"time"`
	Score            json.Number                `json:"score"`
	Performance      json.Number                `json:"performance"`
	Decentralization json.Number                `json:"decentralization"`
	ScoreUpdated     bool                       `json:"score_updated"`
	InactiveSince    *json.Number               `json:"inactive_since"`
	Fields           map[string]json.RawMessage `json:"-"`
}

// MarshalJSON writes the node with its text fields merged in, keys in a
// fixed order.
func (n NodeJSON) MarshalJSON() ([]byte, error) {
	type plain NodeJSON
	return withFields(plain(n), n.Fields)
}

// UnmarshalJSON reads a node, keeping its text fields.
func (n *NodeJSON) UnmarshalJSON(b []byte) error {
	type plain NodeJSON
	if err := json.Unmarshal(b, (*plain)(n)); err != nil {
		return err
	}
	n.Fields = fieldsOf(b)
	return nil
}

// MarshalJSON writes the CRN with its text fields merged in.
func (r ResourceJSON) MarshalJSON() ([]byte, error) {
	type plain ResourceJSON
	return withFields(plain(r), r.Fields)
}

// UnmarshalJSON reads a CRN, keeping its text fields.
func (r *ResourceJSON) UnmarshalJSON(b []byte) error {
	type plain ResourceJSON
	if err := json.Unmarshal(b, (*plain)(r)); err != nil {
		return err
	}
	r.Fields = fieldsOf(b)
	return nil
}

func fieldsOf(b []byte) map[string]json.RawMessage {
	var all map[string]json.RawMessage
	_ = json.Unmarshal(b, &all)
	f := map[string]json.RawMessage{}
	for _, k := range textFields {
		if v, ok := all[k]; ok {
			f[k] = v
		}
	}
	return f
}

// withFields marshals v, then appends the text fields in textFields order.
func withFields(v any, fields map[string]json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Write(b[:len(b)-1])
	for _, k := range textFields {
		val, ok := fields[k]
		if !ok {
			val = json.RawMessage(`""`)
		}
		fmt.Fprintf(&buf, ",%q:%s", k, val)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// tokenNumber writes base units as whole tokens, exactly.
func tokenNumber(v *big.Int) json.Number { return json.Number(balances.FormatAmount(v)) }

func timeNumber(t float64) json.Number {
	return json.Number(strconv.FormatFloat(t, 'f', -1, 64))
}

func inactive(t *float64) *json.Number {
	if t == nil {
		return nil
	}
	n := timeNumber(*t)
	return &n
}

// Aggregate returns the registry in the corechannel aggregate's shape.
func (st *State) Aggregate() Aggregate {
	a := Aggregate{Nodes: []NodeJSON{}, ResourceNodes: []ResourceJSON{}}
	for _, h := range st.ccnOrder {
		n := st.ccns[h]
		stakers := map[string]json.Number{}
		for s, v := range n.Stakers {
			stakers[s] = tokenNumber(v)
		}
		a.Nodes = append(a.Nodes, NodeJSON{Hash: n.Hash, Owner: n.Owner, Reward: n.Reward, Manager: n.Manager,
			Locked: n.Locked, Authorized: n.Authorized, Stakers: stakers, TotalStaked: tokenNumber(n.TotalStaked),
			Status: n.Status, Time: timeNumber(n.Time), ResourceNodes: n.ResourceNodes, HasBonus: n.HasBonus,
			Score: json.Number(n.Score.Text), Performance: json.Number(n.Performance.Text),
			Decentralization: json.Number(n.Decentralization.Text), ScoreUpdated: n.Updated,
			InactiveSince: inactive(n.InactiveSince), Fields: n.Fields})
	}
	for _, h := range st.crnOrder {
		r := st.crns[h]
		var parent *string
		if r.Parent != "" {
			p := r.Parent
			parent = &p
		}
		a.ResourceNodes = append(a.ResourceNodes, ResourceJSON{Hash: r.Hash, Type: r.Type, Owner: r.Owner,
			Reward: r.Reward, Manager: r.Manager, Locked: r.Locked, Authorized: r.Authorized, Status: r.Status,
			Parent: parent, Time: timeNumber(r.Time), Score: json.Number(r.Score.Text),
			Performance: json.Number(r.Performance.Text), Decentralization: json.Number(r.Decentralization.Text),
			ScoreUpdated: r.Updated, InactiveSince: inactive(r.InactiveSince), Fields: r.Fields})
	}
	return a
}

// JSON returns the aggregate's bytes: the same state gives the same bytes
// on every node (map keys sorted, fields in a fixed order).
func (st *State) JSON() []byte {
	b, err := json.Marshal(st.Aggregate())
	if err != nil {
		// Every value is built by this package and marshals.
		panic(fmt.Sprintf("corechannel: %v", err))
	}
	return b
}
