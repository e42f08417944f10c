// Package replaytest builds and checks rebuild-from-chain runs, for the
// tests of internal/chain and for bench/chainreplay: a deterministic
// workload of signed messages of every type (posts and amends, aggregates,
// stores on both engines, non-inline posts, programs, forgets) in phases
// that a packer node anchors one after the other, and a snapshot of a
// node's store (statuses, confirmations, forgotten skeletons, posts,
// aggregates) to compare the packer node with a node rebuilt from the
// chain. It imports the dev chain's users only; never the node binary.
package replaytest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/message"
)

// File is a file the workload's messages need (a STORE's file, the content
// of a non-inline message), added to the packer node before the first
// phase.
type File struct {
	Engine files.Engine
	Data   []byte
	Hash   string
}

// Workload is a set of signed messages in phases. Each phase must be
// anchored (every message in a packer batch) before the next one is
// submitted: a message forgotten before it is anchored never reaches the
// chain (as with the reference), so the phases put originals, then
// amends and updates, then forgets.
type Workload struct {
	Files  []File
	Phases [][]*message.Message
	// Owners are the accounts' addresses (the aggregates' owners).
	Owners []string
}

// Len is the number of messages of every phase.
func (w *Workload) Len() int {
	n := 0
	for _, p := range w.Phases {
		n += len(p)
	}
	return n
}

// Counts by type of the messages of every phase.
func (w *Workload) Counts() map[message.Type]int {
	out := map[message.Type]int{}
	for _, p := range w.Phases {
		for _, m := range p {
			out[m.Type]++
		}
	}
	return out
}

// gen holds the state of a workload being built.
type gen struct {
	rng      *rand.Rand
	accts    []*eth.Account
	byAddr   map[string]*eth.Account
	t        float64 // time of the next message, unix seconds
	w        *Workload
	channels []string

	posts     []*message.Message // originals of phase A
	amendsOf  map[string][]string
	amendOf   map[string]string // amend hash → original hash
	owner     map[string]*eth.Account
	aggMsgs   []*message.Message
	stores    []*message.Message // STOREs no program uses
	programs  []*message.Message
	bPosts    []*message.Message
	forgotten map[string]bool
}

// New builds a workload of about n messages (at least 200) whose keys and
// contents derive from seed; the messages' times are spread from start on,
// one millisecond apart.
func New(n int, seed uint64, start time.Time) (*Workload, error) {
	n = max(n, 200)
	g := &gen{rng: rand.New(rand.NewPCG(seed, 14)), byAddr: map[string]*eth.Account{}, t: float64(start.UnixMilli()) / 1000,
		w: &Workload{}, amendsOf: map[string][]string{}, amendOf: map[string]string{}, owner: map[string]*eth.Account{},
		forgotten: map[string]bool{}, channels: []string{"REPLAY-A", "REPLAY-B", "REPLAY-C"}}
	for i := range min(max(n/500, 10), 200) {
		k := sha256.Sum256(fmt.Appendf(nil, "goaleph replay key %d/%d", seed, i))
		a, err := eth.AccountFromHex(hex.EncodeToString(k[:]))
		if err != nil {
			return nil, err
		}
		g.accts = append(g.accts, a)
		g.byAddr[a.Address()] = a
		g.w.Owners = append(g.w.Owners, a.Address())
	}
	nA, nB := n/2, n*35/100
	nC := n - nA - nB
	for _, build := range []func(int) ([]*message.Message, error){g.phaseA, g.phaseB, g.phaseC} {
		size := nA
		switch len(g.w.Phases) {
		case 1:
			size = nB
		case 2:
			size = nC
		}
		p, err := build(size)
		if err != nil {
			return nil, err
		}
		g.w.Phases = append(g.w.Phases, p)
	}
	return g.w, nil
}

func (g *gen) acct() *eth.Account { return g.accts[g.rng.IntN(len(g.accts))] }

func (g *gen) channel() string { return g.channels[g.rng.IntN(len(g.channels))] }

// next returns the time of the next message.
func (g *gen) next() float64 {
	g.t += 0.001
	return float64(int64(g.t*1000+0.5)) / 1000
}

// inline signs an inline message whose content is fields plus address and
// time (written first, in that order).
func (g *gen) inline(a *eth.Account, typ message.Type, fields map[string]any) (*message.Message, error) {
	t := g.next()
	content, err := contentJSON(a.Address(), t, fields)
	if err != nil {
		return nil, err
	}
	m, err := message.NewInline(a, typ, g.channel(), content, time.UnixMilli(int64(t*1000+0.5)))
	if err != nil {
		return nil, err
	}
	g.owner[m.ItemHash] = a
	return m, nil
}

// contentJSON is {"address":…,"time":…, fields…} with fields in sorted
// key order.
func contentJSON(addr string, t float64, fields map[string]any) (string, error) {
	rest, err := json.Marshal(fields)
	if err != nil {
		return "", err
	}
	head := fmt.Sprintf(`{"address":%q,"time":%.3f`, addr, t)
	if len(rest) > 2 {
		return head + "," + string(rest[1:]), nil
	}
	return head + "}", nil
}

var words = strings.Fields("aleph node message post storage compute network chain ipfs hello world " +
	"decentralized cloud program instance volume balance token the a of and to in is for on with")

func (g *gen) text(n int) string {
	b := make([]string, n)
	for i := range b {
		b[i] = words[g.rng.IntN(len(words))]
	}
	return strings.Join(b, " ")
}

func (g *gen) post(a *eth.Account) (*message.Message, error) {
	body := map[string]any{"title": g.text(2 + g.rng.IntN(4)), "body": g.text(5 + g.rng.IntN(40)), "n": g.rng.IntN(1 << 20)}
	if g.rng.IntN(3) == 0 {
		body["tags"] = []string{words[g.rng.IntN(len(words))], "replay"}
	}
	return g.inline(a, message.TypePost, map[string]any{"type": []string{"chat", "blog", "note"}[g.rng.IntN(3)], "content": body})
}

func (g *gen) aggregate(a *eth.Account) (*message.Message, error) {
	key := []string{"profile", "settings", "links", "state"}[g.rng.IntN(4)]
	c := map[string]any{fmt.Sprintf("f%d", g.rng.IntN(8)): g.rng.IntN(1000), "last": g.text(2),
		"obj": map[string]any{"b": g.rng.IntN(9), "a": g.text(1)}}
	m, err := g.inline(a, message.TypeAggregate, map[string]any{"key": key, "content": c})
	if err == nil {
		g.aggMsgs = append(g.aggMsgs, m)
	}
	return m, err
}

// file adds a file of size random bytes (an IPFS one when ipfs) and
// returns its hash.
func (g *gen) file(size int, ipfs bool) (string, error) {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(g.rng.Uint32())
	}
	f := File{Engine: files.Native, Data: data}
	if ipfs {
		f.Engine = files.IPFS
		c, err := files.CID(strings.NewReader(string(data)), 0)
		if err != nil {
			return "", err
		}
		f.Hash = c
	} else {
		sum := sha256.Sum256(data)
		f.Hash = hex.EncodeToString(sum[:])
	}
	g.w.Files = append(g.w.Files, f)
	return f.Hash, nil
}

func (g *gen) store(a *eth.Account, ipfs bool) (*message.Message, error) {
	hash, err := g.file(256+g.rng.IntN(4096), ipfs)
	if err != nil {
		return nil, err
	}
	itemType := "storage"
	if ipfs {
		itemType = "ipfs"
	}
	return g.inline(a, message.TypeStore, map[string]any{"item_type": itemType, "item_hash": hash})
}

// stored signs a POST whose content is a file of the native store
// (item_type storage), which a rebuilding node fetches from its peers.
func (g *gen) stored(a *eth.Account) (*message.Message, error) {
	t := g.next()
	content, err := contentJSON(a.Address(), t, map[string]any{"type": "blog",
		"content": map[string]any{"body": g.text(200 + g.rng.IntN(300)), "stored": true}})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(content))
	hash := hex.EncodeToString(sum[:])
	g.w.Files = append(g.w.Files, File{Engine: files.Native, Data: []byte(content), Hash: hash})
	m := &message.Message{Type: message.TypePost, ItemType: message.ItemStorage, ItemHash: hash, Time: t, Channel: g.channel()}
	if err := message.Sign(a, m); err != nil {
		return nil, err
	}
	g.owner[hash] = a
	return m, nil
}

// phaseA: stores (both engines), non-inline posts, aggregates, posts.
func (g *gen) phaseA(size int) ([]*message.Message, error) {
	var out []*message.Message
	add := func(m *message.Message, err error) error {
		if err == nil {
			out = append(out, m)
		}
		return err
	}
	for i, a := range g.accts {
		for j := range 2 {
			m, err := g.store(a, i%2 == 1 && j == 1)
			if err := add(m, err); err != nil {
				return nil, err
			}
			if i >= 5 {
				g.stores = append(g.stores, m)
			}
		}
		if i < 10 {
			if err := add(g.stored(a)); err != nil {
				return nil, err
			}
		}
	}
	for range size / 5 {
		if err := add(g.aggregate(g.acct())); err != nil {
			return nil, err
		}
	}
	for len(out) < size {
		m, err := g.post(g.acct())
		if err := add(m, err); err != nil {
			return nil, err
		}
		g.posts = append(g.posts, m)
	}
	return out, nil
}

// phaseB: programs on the first accounts' stores, amends of phase A's
// posts (some amended several times), aggregate updates, posts.
func (g *gen) phaseB(size int) ([]*message.Message, error) {
	var out []*message.Message
	for i := range min(5, len(g.accts)) {
		a := g.accts[i]
		code, runtime := g.w.Phases[0][3*i], g.w.Phases[0][3*i+1]
		m, err := g.inline(a, message.TypeProgram, map[string]any{
			"type": "vm-function", "allow_amend": false,
			"code":      map[string]any{"encoding": "zip", "entrypoint": "main:app", "ref": code.ItemHash, "use_latest": false},
			"runtime":   map[string]any{"ref": runtime.ItemHash, "use_latest": false, "comment": "replay runtime"},
			"on":        map[string]any{"http": true},
			"resources": map[string]any{"vcpus": 1, "memory": 128, "seconds": 30},
		})
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		g.programs = append(g.programs, m)
	}
	for range size * 3 / 7 {
		orig := g.posts[g.rng.IntN(len(g.posts)/2)] // half the posts are never amended
		a := g.owner[orig.ItemHash]
		m, err := g.inline(a, message.TypePost, map[string]any{"type": "amend", "ref": orig.ItemHash,
			"content": map[string]any{"body": g.text(3 + g.rng.IntN(20)), "amended": true}})
		if err != nil {
			return nil, err
		}
		g.amendsOf[orig.ItemHash] = append(g.amendsOf[orig.ItemHash], m.ItemHash)
		g.amendOf[m.ItemHash] = orig.ItemHash
		out = append(out, m)
	}
	for range size / 7 {
		m, err := g.aggregate(g.acct())
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	for len(out) < size {
		m, err := g.post(g.acct())
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		g.bPosts = append(g.bPosts, m)
	}
	return out, nil
}

// phaseC: forgets of posts (amended or not, forgetting their amends),
// amends, aggregate elements, stores, a program; posts. Every message is
// forgotten by one FORGET at most.
func (g *gen) phaseC(size int) ([]*message.Message, error) {
	var out []*message.Message
	// pick returns an unforgotten target of one of the lists, or nil.
	pick := func() *message.Message {
		for range 100 {
			var list []*message.Message
			switch g.rng.IntN(10) {
			case 0, 1, 2, 3:
				list = g.posts
			case 4:
				list = g.bPosts
			case 5, 6:
				list = g.aggMsgs
			case 7:
				list = g.stores
			default:
				// an amend
				orig := g.posts[g.rng.IntN(len(g.posts)/2)]
				if as := g.amendsOf[orig.ItemHash]; len(as) > 0 && !g.forgotten[orig.ItemHash] {
					h := as[g.rng.IntN(len(as))]
					if !g.forgotten[h] {
						g.forgotten[h] = true
						g.forgotten[orig.ItemHash] = true // its FORGET would forget the amend again
						return &message.Message{ItemHash: h}
					}
				}
				continue
			}
			if len(list) == 0 {
				continue
			}
			m := list[g.rng.IntN(len(list))]
			if g.forgotten[m.ItemHash] {
				continue
			}
			g.forgotten[m.ItemHash] = true
			for _, h := range g.amendsOf[m.ItemHash] {
				g.forgotten[h] = true
			}
			return m
		}
		return nil
	}
	nForget := max(size/8, 3)
	for i := range nForget {
		var targets []string
		var owner *eth.Account
		if i == 0 && len(g.programs) > 0 {
			p := g.programs[0]
			targets, owner = []string{p.ItemHash}, g.owner[p.ItemHash]
			g.forgotten[p.ItemHash] = true
		}
		for range 1 + g.rng.IntN(3) {
			m := pick()
			if m == nil {
				break
			}
			o := g.owner[m.ItemHash]
			if o == nil {
				o = g.owner[g.amendOf[m.ItemHash]]
			}
			if owner == nil {
				owner = o
			}
			if o != owner {
				// Another owner's message: its own FORGET.
				f, err := g.inline(o, message.TypeForget, map[string]any{"hashes": []string{m.ItemHash}, "reason": "replay"})
				if err != nil {
					return nil, err
				}
				out = append(out, f)
				continue
			}
			targets = append(targets, m.ItemHash)
		}
		if len(targets) == 0 {
			continue
		}
		f, err := g.inline(owner, message.TypeForget, map[string]any{"hashes": targets, "reason": "replay"})
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	for len(out) < size {
		m, err := g.post(g.acct())
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}
