package corechannel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

// addr returns a distinct checksummed test address.
func addr(i int) string { return common.BigToAddress(big.NewInt(int64(0x1000 + i))).Hex() }

var (
	alice, bob, carol, dave = addr(1), addr(2), addr(3), addr(4)
	scorer                  = DefaultSettings().Scorers[0]
)

// fixture builds events at increasing positions.
type fixture struct {
	t   float64
	evs []Event
}

func (f *fixture) next() float64 { f.t++; return f.t }

// at gives the event the fixture's height, so that replays follow the
// fixture's order.
func at(e Event) Event { e.Height = int64(e.Time); return e }

func (f *fixture) bal(a string, tok int64) Event {
	return at(Event{Kind: KindBalance, Time: f.next(), Address: a, Balance: tokens(tok)})
}

func (f *fixture) op(hash, sender, action, ref string, details map[string]any) Event {
	c := map[string]any{"action": action, "tags": []string{action, "mainnet"}}
	if details != nil {
		c["details"] = details
	}
	b, _ := json.Marshal(c)
	return at(Event{Kind: KindMessage, Time: f.next(), Hash: hash, Sender: sender, PostType: OperationType, Ref: ref, Content: b})
}

func (f *fixture) amend(hash, sender, ref string, details map[string]any) Event {
	e := f.op(hash, sender, "", ref, details)
	e.PostType = AmendType
	return e
}

type entry struct {
	id                  string
	score, perf, decent any
}

func (f *fixture) scores(sender string, ccn, crn []entry) Event {
	list := func(es []entry) []map[string]any {
		out := []map[string]any{}
		for _, e := range es {
			out = append(out, map[string]any{"node_id": e.id, "total_score": e.score, "performance": e.perf,
				"decentralization": e.decent})
		}
		return out
	}
	b, _ := json.Marshal(map[string]any{"version": "1.1", "tags": []string{"mainnet"},
		"scores": map[string]any{"ccn": list(ccn), "crn": list(crn)}})
	return at(Event{Kind: KindMessage, Time: f.next(), Hash: fmt.Sprintf("score%v", f.t), Sender: sender,
		PostType: ScoresType, Content: b})
}

// run applies the setup, then the event under test, and returns its
// outcome.
func run(t *testing.T, setup func(f *fixture) []Event, last func(f *fixture) Event) (*State, Outcome) {
	t.Helper()
	f := &fixture{}
	st := New(DefaultSettings())
	for i, ev := range setup(f) {
		if o := st.Apply(ev); o != Applied && !(ev.Kind == KindBalance && o == Skipped) {
			t.Fatalf("setup event %d (%s %s): %s", i, ev.PostType, ev.Hash, o)
		}
	}
	return st, st.Apply(last(f))
}

// ccnWithStake: alice owns CCN "n1", bob stakes 600k on it, carol owns
// CRN "r1".
func ccnWithStake(f *fixture) []Event {
	return []Event{f.bal(alice, 200_000), f.op("n1", alice, "create-node", "", map[string]any{"name": "one"}),
		f.bal(bob, 600_000), f.op("s1", bob, "stake", "n1", nil),
		f.op("r1", carol, "create-resource-node", "", map[string]any{"type": "compute", "address": "https://a.example"})}
}

func linked(f *fixture) []Event {
	return append(ccnWithStake(f), f.op("l1", alice, "link", "r1", nil))
}

// words joins values with spaces, as Sprintln does.
func words(vs ...any) string { return strings.TrimSuffix(fmt.Sprintln(vs...), "\n") }

func tok(n int64) string { return tokens(n).String() }

func TestRules(t *testing.T) {
	type check func(st *State) error
	is := func(what string, got, want any) error {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("%s = %v, want %v", what, got, want)
		}
		return nil
	}
	cases := []struct {
		name  string
		setup func(f *fixture) []Event
		last  func(f *fixture) Event
		want  Outcome
		check check
	}{
		// §1.4 create-node
		{"create-node accepted at 199,999", func(f *fixture) []Event { return []Event{f.bal(alice, 199_999)} },
			func(f *fixture) Event { return f.op("n1", alice, "create-node", "", nil) }, Applied,
			func(st *State) error {
				n := st.ccns["n1"]
				return is("owner, reward, status", n.Owner+n.Reward+n.Status, alice+alice+"waiting")
			}},
		{"create-node refused below 199,999", func(f *fixture) []Event {
			return []Event{{Kind: KindBalance, Time: f.next(), Address: alice, Balance: new(big.Int).Sub(tokens(199_999), big.NewInt(1))}}
		}, func(f *fixture) Event { return f.op("n1", alice, "create-node", "", nil) }, Refused,
			func(st *State) error { return is("nodes", len(st.ccns), 0) }},
		{"create-node refused for a second CCN", ccnWithStake,
			func(f *fixture) Event { return f.op("n2", alice, "create-node", "", nil) }, Refused,
			func(st *State) error { return is("nodes", len(st.ccns), 1) }},
		{"create-node takes details.reward and removes the owner's stakes", ccnWithStake,
			func(f *fixture) Event { return f.op("n2", bob, "create-node", "", map[string]any{"reward": carol}) }, Applied,
			func(st *State) error {
				return is("reward, n1 stakers, bob staking", words(st.ccns["n2"].Reward, len(st.ccns["n1"].Stakers), len(st.staking[bob])),
					words(carol, 0, 0))
			}},
		{"create-node: a used multiaddress host is stored empty", func(f *fixture) []Event {
			return []Event{f.bal(alice, 200_000), f.op("n1", alice, "create-node", "", map[string]any{"multiaddress": "/ip4/10.0.0.1/tcp/4025/p2p/Qm1"}),
				f.bal(dave, 200_000)}
		}, func(f *fixture) Event {
			return f.op("n2", dave, "create-node", "", map[string]any{"multiaddress": "/ip4/10.0.0.1/tcp/4026/p2p/Qm2"})
		}, Applied, func(st *State) error { return is("multiaddress", string(st.ccns["n2"].Fields["multiaddress"]), `""`) }},
		// create-resource-node
		{"create-resource-node accepted without balance, many per owner", func(f *fixture) []Event {
			return []Event{f.op("r1", carol, "create-resource-node", "", map[string]any{"type": "compute"})}
		}, func(f *fixture) Event {
			return f.op("r2", carol, "create-resource-node", "", map[string]any{"type": "compute"})
		}, Applied, func(st *State) error { return is("crns", len(st.crns), 2) }},
		{"create-resource-node refused without type", func(f *fixture) []Event { return nil },
			func(f *fixture) Event {
				return f.op("r1", carol, "create-resource-node", "", map[string]any{"name": "x"})
			}, Refused,
			func(st *State) error { return is("crns", len(st.crns), 0) }},
		{"create-resource-node: a used URL host is stored empty", ccnWithStake,
			func(f *fixture) Event {
				return f.op("r2", dave, "create-resource-node", "", map[string]any{"type": "compute", "address": "https://A.example:443/x"})
			}, Applied, func(st *State) error { return is("address", string(st.crns["r2"].Fields["address"]), `""`) }},
		// link
		{"link accepted", ccnWithStake, func(f *fixture) Event { return f.op("l1", alice, "link", "r1", nil) }, Applied,
			func(st *State) error {
				return is("parent, status, list", st.crns["r1"].Parent+st.crns["r1"].Status+words(st.ccns["n1"].ResourceNodes), "n1linked[r1]")
			}},
		{"link refused without a CCN", ccnWithStake, func(f *fixture) Event { return f.op("l1", carol, "link", "r1", nil) }, Refused,
			func(st *State) error { return is("parent", st.crns["r1"].Parent, "") }},
		{"link refused for a ref that is not a CRN", ccnWithStake, func(f *fixture) Event { return f.op("l1", alice, "link", "n1", nil) }, Refused, nil},
		{"link refused for a CRN with a parent", func(f *fixture) []Event {
			return append(linked(f), f.bal(dave, 200_000), f.op("n2", dave, "create-node", "", nil))
		}, func(f *fixture) Event { return f.op("l2", dave, "link", "r1", nil) }, Refused,
			func(st *State) error { return is("parent", st.crns["r1"].Parent, "n1") }},
		{"link refused when already linked", linked, func(f *fixture) Event { return f.op("l2", alice, "link", "r1", nil) }, Refused,
			func(st *State) error { return is("links", len(st.ccns["n1"].ResourceNodes), 1) }},
		{"link refused for a locked CRN", func(f *fixture) []Event {
			return append(ccnWithStake(f), f.op("r2", carol, "create-resource-node", "", map[string]any{"type": "compute", "locked": true}))
		}, func(f *fixture) Event { return f.op("l1", alice, "link", "r2", nil) }, Refused, nil},
		{"link refused beyond 8 CRNs", func(f *fixture) []Event {
			evs := ccnWithStake(f)
			for i := 0; i < 8; i++ {
				h := fmt.Sprintf("x%d", i)
				evs = append(evs, f.op(h, carol, "create-resource-node", "", map[string]any{"type": "compute"}), f.op("l"+h, alice, "link", h, nil))
			}
			return evs
		}, func(f *fixture) Event { return f.op("l9", alice, "link", "r1", nil) }, Refused,
			func(st *State) error { return is("links", len(st.ccns["n1"].ResourceNodes), 8) }},
		// unlink
		{"unlink accepted from the CCN owner", linked, func(f *fixture) Event { return f.op("u1", alice, "unlink", "r1", nil) }, Applied,
			func(st *State) error {
				return is("parent, status", st.crns["r1"].Parent+st.crns["r1"].Status, "waiting")
			}},
		{"unlink accepted from the CRN owner", linked, func(f *fixture) Event { return f.op("u1", carol, "unlink", "r1", nil) }, Applied,
			func(st *State) error { return is("links", len(st.ccns["n1"].ResourceNodes), 0) }},
		{"unlink refused from another address", linked, func(f *fixture) Event { return f.op("u1", bob, "unlink", "r1", nil) }, Refused,
			func(st *State) error { return is("parent", st.crns["r1"].Parent, "n1") }},
		{"unlink refused without a parent", ccnWithStake, func(f *fixture) Event { return f.op("u1", carol, "unlink", "r1", nil) }, Refused, nil},
		// drop-node
		{"drop-node of a CCN: stakes go, CRNs unlinked, multi-node stakers re-split", func(f *fixture) []Event {
			return append(linked(f), f.bal(dave, 200_000), f.op("n2", dave, "create-node", "", nil), f.op("s2", bob, "stake-split", "n2", nil))
		}, func(f *fixture) Event { return f.op("d1", alice, "drop-node", "n1", nil) }, Applied,
			func(st *State) error {
				return is("n1, r1, bob on n2", words(st.ccns["n1"] == nil, st.crns["r1"].Status, st.ccns["n2"].Stakers[bob]),
					words(true, "waiting", tok(600_000)))
			}},
		{"drop-node of a CCN refused from another address", linked, func(f *fixture) Event { return f.op("d1", bob, "drop-node", "n1", nil) }, Refused,
			func(st *State) error { return is("nodes", len(st.ccns), 1) }},
		{"drop-node of a CRN by its owner unlinks it", linked, func(f *fixture) Event { return f.op("d1", carol, "drop-node", "r1", nil) }, Applied,
			func(st *State) error {
				return is("crns, links", words(len(st.crns), len(st.ccns["n1"].ResourceNodes)), "0 0")
			}},
		{"drop-node of a CRN refused from the CCN owner", linked, func(f *fixture) Event { return f.op("d1", alice, "drop-node", "r1", nil) }, Refused,
			func(st *State) error { return is("crns", len(st.crns), 1) }},
		// stake
		{"stake accepted: the whole balance, active at 500,000 - 1", func(f *fixture) []Event {
			return []Event{f.bal(alice, 200_000), f.op("n1", alice, "create-node", "", nil), f.bal(bob, 499_999)}
		}, func(f *fixture) Event { return f.op("s1", bob, "stake", "n1", nil) }, Applied,
			func(st *State) error {
				return is("stake, status", words(st.ccns["n1"].Stakers[bob], st.ccns["n1"].Status), tok(499_999)+" active")
			}},
		{"stake below the activation leaves the CCN waiting", func(f *fixture) []Event {
			return []Event{f.bal(alice, 200_000), f.op("n1", alice, "create-node", "", nil),
				{Kind: KindBalance, Time: f.next(), Address: bob, Balance: new(big.Int).Sub(tokens(499_999), big.NewInt(1))}}
		}, func(f *fixture) Event { return f.op("s1", bob, "stake", "n1", nil) }, Applied,
			func(st *State) error { return is("status", st.ccns["n1"].Status, "waiting") }},
		{"stake refused below 9,999", func(f *fixture) []Event {
			return []Event{f.bal(alice, 200_000), f.op("n1", alice, "create-node", "", nil), f.bal(bob, 9_998)}
		}, func(f *fixture) Event { return f.op("s1", bob, "stake", "n1", nil) }, Refused,
			func(st *State) error { return is("stakers", len(st.ccns["n1"].Stakers), 0) }},
		{"stake refused on a ref that is not a CCN", ccnWithStake, func(f *fixture) Event { return f.op("s2", bob, "stake", "r1", nil) }, Refused, nil},
		{"stake refused from a CCN owner", func(f *fixture) []Event {
			return append(ccnWithStake(f), f.bal(dave, 200_000), f.op("n2", dave, "create-node", "", nil))
		}, func(f *fixture) Event { return f.op("s2", dave, "stake", "n1", nil) }, Refused, nil},
		{"stake refused on a locked CCN", func(f *fixture) []Event {
			return append(ccnWithStake(f), f.amend("a1", alice, "n1", map[string]any{"locked": true}), f.bal(dave, 50_000))
		}, func(f *fixture) Event { return f.op("s2", dave, "stake", "n1", nil) }, Refused, nil},
		{"stake accepted on a locked CCN from an authorized address", func(f *fixture) []Event {
			return append(ccnWithStake(f), f.amend("a1", alice, "n1", map[string]any{"locked": true, "authorized": []string{dave}}), f.bal(dave, 50_000))
		}, func(f *fixture) Event { return f.op("s2", dave, "stake", "n1", nil) }, Applied,
			func(st *State) error { return is("dave", st.ccns["n1"].Stakers[dave], tok(50_000)) }},
		{"stake replaces all stakes", func(f *fixture) []Event {
			return append(ccnWithStake(f), f.bal(dave, 200_000), f.op("n2", dave, "create-node", "", nil))
		}, func(f *fixture) Event { return f.op("s2", bob, "stake", "n2", nil) }, Applied,
			func(st *State) error {
				return is("n1, n2", words(len(st.ccns["n1"].Stakers), st.ccns["n2"].Stakers[bob], st.ccns["n1"].Status), "0 "+tok(600_000)+" waiting")
			}},
		// stake-split
		{"stake-split adds and splits with floor", func(f *fixture) []Event {
			return append(ccnWithStake(f), f.bal(dave, 200_000), f.op("n2", dave, "create-node", "", nil),
				Event{Kind: KindBalance, Time: f.next(), Address: bob, Balance: big.NewInt(0).Add(tokens(600_000), big.NewInt(1))})
		}, func(f *fixture) Event { return f.op("s2", bob, "stake-split", "n2", nil) }, Applied,
			func(st *State) error {
				half := new(big.Int).Quo(new(big.Int).Add(tokens(600_000), big.NewInt(1)), big.NewInt(2))
				return is("n1, n2", words(st.ccns["n1"].Stakers[bob], st.ccns["n2"].Stakers[bob], st.ccns["n1"].Status),
					words(half, half, "waiting"))
			}},
		{"stake-split refused on a node already staked", ccnWithStake, func(f *fixture) Event { return f.op("s2", bob, "stake-split", "n1", nil) }, Refused, nil},
		// unstake
		{"unstake accepted, the rest re-split", func(f *fixture) []Event {
			return append(ccnWithStake(f), f.bal(dave, 200_000), f.op("n2", dave, "create-node", "", nil), f.op("s2", bob, "stake-split", "n2", nil))
		}, func(f *fixture) Event { return f.op("u1", bob, "unstake", "n1", nil) }, Applied,
			func(st *State) error {
				return is("n1, n2", words(len(st.ccns["n1"].Stakers), st.ccns["n2"].Stakers[bob], st.ccns["n2"].Status), "0 "+tok(600_000)+" active")
			}},
		{"unstake refused for a node not staked", ccnWithStake, func(f *fixture) Event { return f.op("u1", carol, "unstake", "n1", nil) }, Refused, nil},
		// amend
		{"amend of a CCN by its owner; reward kept, locked coerced", ccnWithStake,
			func(f *fixture) Event {
				return f.amend("a1", alice, "n1", map[string]any{"name": "renamed", "locked": "yes"})
			}, Applied,
			func(st *State) error {
				n := st.ccns["n1"]
				return is("name, reward, locked", words(string(n.Fields["name"]), n.Reward, n.Locked), words(`"renamed"`, alice, true))
			}},
		{"amend of a CCN by its manager", func(f *fixture) []Event {
			return append(ccnWithStake(f), f.amend("a1", alice, "n1", map[string]any{"manager": dave}))
		}, func(f *fixture) Event { return f.amend("a2", dave, "n1", map[string]any{"description": "d"}) }, Applied,
			func(st *State) error { return is("name kept", string(st.ccns["n1"].Fields["name"]), `"one"`) }},
		{"amend of a CCN refused from another address", ccnWithStake,
			func(f *fixture) Event { return f.amend("a1", bob, "n1", map[string]any{"name": "x"}) }, Refused,
			func(st *State) error { return is("name", string(st.ccns["n1"].Fields["name"]), `"one"`) }},
		{"amend of a CRN by its owner", ccnWithStake,
			func(f *fixture) Event {
				return f.amend("a1", carol, "r1", map[string]any{"address": "https://b.example"})
			}, Applied,
			func(st *State) error {
				return is("address", string(st.crns["r1"].Fields["address"]), `"https://b.example"`)
			}},
		{"amend of a CRN by its manager", func(f *fixture) []Event {
			return append(ccnWithStake(f), f.amend("a1", carol, "r1", map[string]any{"manager": dave}))
		}, func(f *fixture) Event { return f.amend("a2", dave, "r1", map[string]any{"name": "m"}) }, Applied, nil},
		{"amend of a CRN refused from the CCN owner", linked,
			func(f *fixture) Event { return f.amend("a1", alice, "r1", map[string]any{"name": "x"}) }, Refused, nil},
		{"amend of an unknown node refused", ccnWithStake,
			func(f *fixture) Event { return f.amend("a1", alice, "nope", map[string]any{"name": "x"}) }, Refused, nil},
		// malformed and foreign
		{"unknown action is malformed", ccnWithStake, func(f *fixture) Event { return f.op("x1", alice, "explode", "n1", nil) }, Malformed, nil},
		{"content that is not an object is malformed", ccnWithStake, func(f *fixture) Event {
			e := f.op("x1", alice, "stake", "n1", nil)
			e.Content = json.RawMessage(`[1,2]`)
			return e
		}, Malformed, nil},
		{"details that are not an object are malformed", ccnWithStake, func(f *fixture) Event {
			e := f.op("x1", alice, "create-node", "", nil)
			e.Content = json.RawMessage(`{"action":"create-node","tags":["mainnet"],"details":"x"}`)
			return e
		}, Malformed, nil},
		{"an operation without the mainnet tag is skipped", ccnWithStake, func(f *fixture) Event {
			e := f.op("x1", bob, "unstake", "n1", nil)
			e.Content = json.RawMessage(`{"action":"unstake","tags":["testnet"]}`)
			return e
		}, Skipped, func(st *State) error { return is("stakers", len(st.ccns["n1"].Stakers), 1) }},
		// §1.5 balance-driven
		{"owner below 199,999: the CCN is dropped with its stakes", linked, func(f *fixture) Event { return f.bal(alice, 199_998) }, Applied,
			func(st *State) error {
				return is("nodes, bob staking, r1", words(len(st.ccns), len(st.staking[bob]), st.crns["r1"].Status), "0 0 waiting")
			}},
		{"staker below 9,999: its stakes go", ccnWithStake, func(f *fixture) Event { return f.bal(bob, 9_998) }, Applied,
			func(st *State) error {
				return is("stakers, status", words(len(st.ccns["n1"].Stakers), st.ccns["n1"].Status), "0 waiting")
			}},
		{"staker balance change re-splits", ccnWithStake, func(f *fixture) Event { return f.bal(bob, 400_000) }, Applied,
			func(st *State) error {
				return is("stake, status", words(st.ccns["n1"].Stakers[bob], st.ccns["n1"].Status), tok(400_000)+" waiting")
			}},
		{"balance of an uninvolved address is skipped", ccnWithStake, func(f *fixture) Event { return f.bal(dave, 1) }, Skipped, nil},
		// §1.6 score-driven
		{"scores clamped to [0, 1]", linked, func(f *fixture) Event {
			return f.scores(scorer, []entry{{"n1", 1.7, -2, 0.5}}, []entry{{"r1", 0.9, 0.8, 0.25}})
		}, Applied, func(st *State) error {
			n, r := st.ccns["n1"], st.crns["r1"]
			return is("scores", words(n.Score.Text, n.Performance.Text, n.Decentralization.Text, n.Updated, r.Score.Text, r.InactiveSince),
				"1 0 0.5 true 0.9 <nil>")
		}},
		{"score below 0.01 sets inactive_since once", func(f *fixture) []Event {
			return append(linked(f), f.scores(scorer, nil, []entry{{"r1", 0.001, 0, 0}}))
		}, func(f *fixture) Event { f.t += 1000; return f.scores(scorer, nil, []entry{{"r1", 0, 0, 0}}) }, Applied,
			func(st *State) error { return is("inactive_since", *st.crns["r1"].InactiveSince, float64(7)) }},
		{"score of 0.01 resets inactive_since", func(f *fixture) []Event {
			return append(linked(f), f.scores(scorer, nil, []entry{{"r1", 0, 0, 0}}))
		}, func(f *fixture) Event { f.t += 1000; return f.scores(scorer, nil, []entry{{"r1", 0.01, 0, 0}}) }, Applied,
			func(st *State) error { return is("inactive_since", st.crns["r1"].InactiveSince, (*float64)(nil)) }},
		{"a score within the merge window keeps the max", func(f *fixture) []Event {
			return append(linked(f), f.scores(scorer, nil, []entry{{"r1", 0.9, 0.8, 0.1}}))
		}, func(f *fixture) Event { return f.scores(scorer, nil, []entry{{"r1", 0.5, 0.95, 0.3}}) }, Applied,
			func(st *State) error {
				r := st.crns["r1"]
				return is("score, perf, dec", words(r.Score.Text, r.Performance.Text, r.Decentralization.Text), "0.9 0.95 0.3")
			}},
		{"a score after the merge window replaces", func(f *fixture) []Event {
			return append(linked(f), f.scores(scorer, nil, []entry{{"r1", 0.9, 0.8, 0.1}}))
		}, func(f *fixture) Event { f.t += 121; return f.scores(scorer, nil, []entry{{"r1", 0.5, 0.4, 0.3}}) }, Applied,
			func(st *State) error { return is("score", st.crns["r1"].Score.Text, "0.5") }},
		{"an unlinked CRN inactive for more than 90 days is deleted", func(f *fixture) []Event {
			return append(ccnWithStake(f), f.scores(scorer, nil, []entry{{"r1", 0, 0, 0}}))
		}, func(f *fixture) Event { f.t += 90*86400 + 1; return f.scores(scorer, nil, []entry{{"r1", 0, 0, 0}}) }, Applied,
			func(st *State) error { return is("crns", len(st.crns), 0) }},
		{"an unlinked CRN inactive for exactly 90 days stays", func(f *fixture) []Event {
			return append(ccnWithStake(f), f.scores(scorer, nil, []entry{{"r1", 0, 0, 0}}))
		}, func(f *fixture) Event { f.t += 90*86400 - 1; return f.scores(scorer, nil, []entry{{"r1", 0, 0, 0}}) }, Applied,
			func(st *State) error { return is("crns", len(st.crns), 1) }},
		{"a linked CRN inactive for more than 90 days stays", func(f *fixture) []Event {
			return append(linked(f), f.scores(scorer, nil, []entry{{"r1", 0, 0, 0}}))
		}, func(f *fixture) Event { f.t += 100 * 86400; return f.scores(scorer, nil, []entry{{"r1", 0, 0, 0}}) }, Applied,
			func(st *State) error { return is("crns", len(st.crns), 1) }},
		{"scores from another address are skipped", linked, func(f *fixture) Event {
			return f.scores(dave, []entry{{"n1", 1, 1, 1}}, nil)
		}, Skipped, func(st *State) error { return is("score", st.ccns["n1"].Score.Text, "0") }},
		{"a score entry that is not a number is skipped", linked, func(f *fixture) Event {
			return f.scores(scorer, []entry{{"n1", "high", 1, 1}}, nil)
		}, Applied, func(st *State) error { return is("score", st.ccns["n1"].Score.Text, "0") }},
		{"a scores post that is not the reference's shape is malformed", linked, func(f *fixture) Event {
			e := f.scores(scorer, nil, nil)
			e.Content = json.RawMessage(`{"scores":{"ccn":"all"}}`)
			return e
		}, Malformed, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, got := run(t, c.setup, c.last)
			if got != c.want {
				t.Fatalf("outcome = %s, want %s", got, c.want)
			}
			if c.check != nil {
				if err := c.check(st); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// network builds a log with every kind of event, several at the same
// position.
func network() []Event {
	f := &fixture{}
	evs := []Event{f.bal(alice, 250_000), f.bal(dave, 300_000), f.bal(bob, 700_001), f.bal(carol, 20_000)}
	evs = append(evs, f.op("n1", alice, "create-node", "", map[string]any{"multiaddress": "/ip4/10.0.0.1/tcp/4025/p2p/Qm1", "name": "α"}),
		f.op("n2", dave, "create-node", "", map[string]any{"name": "two"}),
		f.op("r1", carol, "create-resource-node", "", map[string]any{"type": "compute", "address": "https://a.example"}),
		f.op("r2", carol, "create-resource-node", "", map[string]any{"type": "compute", "address": "https://b.example"}))
	same := f.next()
	for _, e := range []Event{f.op("s1", bob, "stake-split", "n1", nil), f.op("s2", bob, "stake-split", "n2", nil),
		f.op("s3", carol, "stake", "n1", nil), f.op("l1", alice, "link", "r1", nil), f.op("l2", dave, "link", "r2", nil)} {
		e.Time, e.Height = same, int64(same)
		evs = append(evs, e)
	}
	evs = append(evs, f.scores(scorer, []entry{{"n1", 0.85, 0.9, 0.7}, {"n2", 0.5, 0.5, 0.2}},
		[]entry{{"r1", 0.95, 0.9, 0.8}, {"r2", 0.005, 0, 0}}),
		f.amend("a1", alice, "n1", map[string]any{"description": "first"}),
		f.bal(bob, 960_000), f.op("x", bob, "nonsense", "", nil), f.op("u1", dave, "unlink", "r1", nil))
	return evs
}

func TestReplayOrderIndependent(t *testing.T) {
	want := Replay(DefaultSettings(), network(), nil).JSON()
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 20; i++ {
		evs := network()
		rng.Shuffle(len(evs), func(a, b int) { evs[a], evs[b] = evs[b], evs[a] })
		if got := Replay(DefaultSettings(), evs, nil).JSON(); !bytes.Equal(got, want) {
			t.Fatalf("shuffle %d serves different bytes:\n%s\nwant\n%s", i, got, want)
		}
	}
	var a Aggregate
	if err := json.Unmarshal(want, &a); err != nil {
		t.Fatal(err)
	}
	if len(a.Nodes) != 2 || a.Nodes[0].Status != "active" || a.Nodes[1].Status != "waiting" {
		t.Fatalf("nodes: %s", want)
	}
	if got := string(a.Nodes[0].Stakers[bob]); got != "480000.0" {
		t.Errorf("bob on n1 = %s, want 480000.0", got)
	}
	// The aggregate reads back to the same bytes.
	again, err := json.Marshal(a)
	if err != nil || !bytes.Equal(again, want) {
		t.Fatalf("round trip: %v\n%s\nwant\n%s", err, again, want)
	}
}
