package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// testNode runs a node on a random loopback port until the test ends.
func testNode(t testing.TB, cfg Config) *Node {
	t.Helper()
	n, stop := startNode(t, cfg)
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return n
}

// startNode runs a node on a random loopback port; stop stops it and
// returns what Serve returned.
func startNode(t testing.TB, cfg Config) (*Node, func() error) {
	t.Helper()
	n, _, stop := listenNode(t, cfg)
	return n, stop
}

// listenNode runs a node on a random loopback port and returns it, its
// address, and stop, which stops it and returns what Serve returned.
func listenNode(t testing.TB, cfg Config) (*Node, string, func() error) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := New(ctx, cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Serve(ctx, ln) }()
	return n, ln.Addr().String(), func() error {
		cancel()
		return <-done
	}
}

var clock atomic.Int64

// ts returns distinct increasing content times.
func ts() float64 { return 1700000000 + float64(clock.Add(1)) }

func sign(t testing.TB, a message.Signer, typ message.Type, content map[string]any) *message.Message {
	t.Helper()
	if _, ok := content["address"]; !ok {
		content["address"] = a.Address()
	}
	if _, ok := content["time"]; !ok {
		content["time"] = ts()
	}
	b, err := json.Marshal(content)
	if err != nil {
		t.Fatal(err)
	}
	tm := content["time"].(float64)
	m, err := message.NewInline(a, typ, "TEST", string(b), time.UnixMilli(int64(tm*1000)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func post(t *testing.T, a message.Signer, typ string, body any, ref string) *message.Message {
	c := map[string]any{"type": typ, "content": body}
	if ref != "" {
		c["ref"] = ref
	}
	return sign(t, a, message.TypePost, c)
}

// wantRejected submits m, waits, and fails t unless the node rejects it
// with code.
func wantRejected(t *testing.T, n *Node, m *message.Message, code message.Code, what string) {
	t.Helper()
	st, err := submit(t, n, m, true)
	if st != store.StatusRejected || message.CodeOf(err) != code {
		t.Fatalf("%s: %s %v", what, st, err)
	}
}

func submit(t testing.TB, n *Node, m *message.Message, wait bool) (store.Status, error) {
	t.Helper()
	st, err := n.Submit(context.Background(), m, "test", wait)
	if st == "" {
		t.Fatalf("submit %s: %v", m.ItemHash, err)
	}
	return st, err
}

func mustProcess(t testing.TB, n *Node, m *message.Message) {
	t.Helper()
	if st, err := submit(t, n, m, true); st != store.StatusProcessed {
		t.Fatalf("%s: status %s, err %v", m.Type, st, err)
	}
}

// waitStatus polls the status of hash until it is want.
func waitStatus(t *testing.T, n *Node, hash string, want store.Status) *store.MessageStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last store.Status
	for time.Now().Before(deadline) {
		st, err := n.store.Status(context.Background(), hash)
		if err == nil {
			if st.Status == want {
				return st
			}
			last = st.Status
		} else if !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: status %q, want %q", hash, last, want)
	return nil
}

func readPost(t *testing.T, n *Node, hash string) *store.Post {
	t.Helper()
	var p *store.Post
	err := n.store.Update(context.Background(), func(tx store.Tx) error {
		var err error
		p, err = tx.Post(hash)
		return err
	})
	if err != nil {
		t.Fatalf("post %s: %v", hash, err)
	}
	return p
}

func aggregate(t *testing.T, n *Node, owner, key string) map[string]any {
	t.Helper()
	aggs, err := n.store.Aggregates(context.Background(), owner, []string{key})
	if err != nil {
		t.Fatal(err)
	}
	if len(aggs) != 1 {
		return nil
	}
	var v map[string]any
	if err := json.Unmarshal(aggs[0].Content, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPostAmend(t *testing.T) {
	n := testNode(t, Config{})
	a := ethtest.Account(t)
	orig := post(t, a, "blog", map[string]any{"body": "first"}, "")
	mustProcess(t, n, orig)
	am1 := post(t, a, "amend", map[string]any{"body": "second"}, orig.ItemHash)
	am2 := post(t, a, "amend", map[string]any{"body": "third"}, orig.ItemHash)
	// The later amend arrives first: the latest is decided by content time.
	mustProcess(t, n, am2)
	mustProcess(t, n, am1)
	if got := readPost(t, n, orig.ItemHash).LatestAmend; got != am2.ItemHash {
		t.Fatalf("latest amend %s, want %s", got, am2.ItemHash)
	}
	// Amending an amend is refused.
	bad := post(t, a, "amend", map[string]any{"body": "x"}, am1.ItemHash)
	wantRejected(t, n, bad, message.CodePostAmendAmend, "amend of amend")
	// Another account cannot amend.
	other := ethtest.Account(t)
	c := map[string]any{"type": "amend", "content": map[string]any{}, "ref": orig.ItemHash, "address": a.Address()}
	wantRejected(t, n, sign(t, other, message.TypePost, c), message.CodePermissionDenied, "foreign amend")
	// Resubmitting a processed message is answered as processed.
	if st, _ := submit(t, n, orig, true); st != store.StatusProcessed {
		t.Fatalf("duplicate: %s", st)
	}
}

func TestAmendWaitsForOriginal(t *testing.T) {
	// With an hour of backoff, only the wake-up can process the amend.
	n := testNode(t, Config{MaxBackoff: time.Hour})
	a := ethtest.Account(t)
	orig := post(t, a, "blog", map[string]any{"body": "first"}, "")
	amend := post(t, a, "amend", map[string]any{"body": "second"}, orig.ItemHash)
	if st, _ := submit(t, n, amend, true); st != store.StatusPending {
		t.Fatalf("amend before original: %s", st)
	}
	mustProcess(t, n, orig)
	waitStatus(t, n, amend.ItemHash, store.StatusProcessed)
	if got := readPost(t, n, orig.ItemHash).LatestAmend; got != amend.ItemHash {
		t.Fatalf("latest amend %s", got)
	}
}

func TestRetriesEndInRejection(t *testing.T) {
	n := testNode(t, Config{MaxRetries: 2, MaxBackoff: 20 * time.Millisecond})
	a := ethtest.Account(t)
	missingRef := strings.Repeat("ab", 32)
	amend := post(t, a, "amend", map[string]any{"body": "x"}, missingRef)
	submit(t, n, amend, false)
	st := waitStatus(t, n, amend.ItemHash, store.StatusRejected)
	if st.Rejected.ErrorCode != message.CodePostAmendTargetNotFound {
		t.Fatalf("code %d", st.Rejected.ErrorCode)
	}
}

func TestAggregateMergeOrder(t *testing.T) {
	n := testNode(t, Config{})
	a := ethtest.Account(t)
	// The reference node's semantics vector: whichever arrives first, the
	// merge follows content time.
	older := sign(t, a, message.TypeAggregate, map[string]any{"key": "test_reference", "content": map[string]any{"a": 1, "c": 2}, "time": 1644857371.391834})
	newer := sign(t, a, message.TypeAggregate, map[string]any{"key": "test_reference", "content": map[string]any{"c": 3, "d": 4}, "time": 1644857704.6253593})
	mustProcess(t, n, newer)
	mustProcess(t, n, older)
	got := aggregate(t, n, a.Address(), "test_reference")
	want := map[string]any{"a": 1.0, "c": 3.0, "d": 4.0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("aggregate %v, want %v", got, want)
	}
	// Forgetting the newer element recomputes from what is left.
	mustProcess(t, n, sign(t, a, message.TypeForget, map[string]any{"hashes": []string{newer.ItemHash}}))
	got = aggregate(t, n, a.Address(), "test_reference")
	if fmt.Sprint(got) != fmt.Sprint(map[string]any{"a": 1.0, "c": 2.0}) {
		t.Fatalf("after forget %v", got)
	}
}

func TestDelegationAndForget(t *testing.T) {
	n := testNode(t, Config{})
	owner, delegate, stranger := ethtest.Account(t), ethtest.Account(t), ethtest.Account(t)
	// Without authorization the delegate cannot post for the owner.
	c := map[string]any{"type": "blog", "content": "x", "address": owner.Address()}
	wantRejected(t, n, sign(t, delegate, message.TypePost, c), message.CodePermissionDenied, "unauthorized delegate")
	sec := map[string]any{"key": "security", "content": map[string]any{"authorizations": []any{
		map[string]any{"address": strings.ToLower(delegate.Address()), "types": []string{"POST", "FORGET"}, "post_types": []string{"blog"}},
	}}}
	mustProcess(t, n, sign(t, owner, message.TypeAggregate, sec))
	p := sign(t, delegate, message.TypePost, map[string]any{"type": "blog", "content": "y", "address": owner.Address()})
	mustProcess(t, n, p)
	// Post type filter applies.
	st, _ := submit(t, n, sign(t, delegate, message.TypePost, map[string]any{"type": "other", "content": "z", "address": owner.Address()}), true)
	if st != store.StatusRejected {
		t.Fatalf("post type outside the authorization: %s", st)
	}
	// A stranger cannot forget the owner's post; the delegate can.
	wantRejected(t, n, sign(t, stranger, message.TypeForget, map[string]any{"hashes": []string{p.ItemHash}}), message.CodePermissionDenied, "stranger forget")
	f := sign(t, delegate, message.TypeForget, map[string]any{"hashes": []string{p.ItemHash}, "reason": "test"})
	mustProcess(t, n, f)
	fs := waitStatus(t, n, p.ItemHash, store.StatusForgotten)
	if len(fs.Forgotten.ForgottenBy) != 1 || fs.Forgotten.ForgottenBy[0] != f.ItemHash {
		t.Fatalf("forgotten_by %v", fs.Forgotten.ForgottenBy)
	}
	// A FORGET cannot be forgotten.
	wantRejected(t, n, sign(t, delegate, message.TypeForget, map[string]any{"hashes": []string{f.ItemHash}}), message.CodeForgetForget, "forget of forget")
	// Resubmitting the forgotten message does not bring it back.
	if st, _ := submit(t, n, p, true); st != store.StatusForgotten {
		t.Fatalf("resubmitted forgotten: %s", st)
	}
}

func TestForgetOriginalForgetsAmends(t *testing.T) {
	n := testNode(t, Config{MaxBackoff: time.Hour})
	a := ethtest.Account(t)
	orig := post(t, a, "blog", "v1", "")
	amend := post(t, a, "amend", "v2", orig.ItemHash)
	forget := sign(t, a, message.TypeForget, map[string]any{"hashes": []string{orig.ItemHash}})
	// The FORGET arrives before its target and waits for it.
	if st, _ := submit(t, n, forget, true); st != store.StatusPending {
		t.Fatalf("early forget: %s", st)
	}
	mustProcess(t, n, orig)
	waitStatus(t, n, forget.ItemHash, store.StatusProcessed)
	waitStatus(t, n, orig.ItemHash, store.StatusForgotten)
	// An amend of a forgotten post waits (then is rejected): its original is gone.
	if st, _ := submit(t, n, amend, true); st != store.StatusPending {
		t.Fatalf("amend of forgotten post: %s", st)
	}
}

func TestStoreWaitsForFile(t *testing.T) {
	n := testNode(t, Config{MaxBackoff: time.Hour})
	a := ethtest.Account(t)
	data := "file content for a STORE message\n"
	hash := message.InlineHash(data) // sha256 hex, the native engine's address
	st := sign(t, a, message.TypeStore, map[string]any{"item_type": "storage", "item_hash": hash, "mime_type": "text/plain"})
	if s, _ := submit(t, n, st, true); s != store.StatusPending {
		t.Fatalf("STORE without file: %s", s)
	}
	info, err := n.files.Add(context.Background(), "storage", strings.NewReader(data), files.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Hash != hash {
		t.Fatalf("file hash %s, want %s", info.Hash, hash)
	}
	if err := n.PinUpload(context.Background(), info); err != nil {
		t.Fatal(err)
	}
	rec := waitStatus(t, n, st.ItemHash, store.StatusProcessed).Record
	var content map[string]any
	json.Unmarshal(rec.Content, &content)
	if content["mime_type"] != "text/plain" {
		t.Fatalf("extra STORE keys must be kept: %s", rec.Content)
	}
	if c, _ := n.store.PinCount(context.Background(), hash); c != 2 { // grace + message
		t.Fatalf("pins %d", c)
	}
	// Forgetting the STORE leaves the file to a new grace period; once it
	// expires, the garbage collector deletes it.
	mustProcess(t, n, sign(t, a, message.TypeForget, map[string]any{"hashes": []string{st.ItemHash}}))
	if ok, _ := n.files.Has(context.Background(), hash); !ok {
		t.Fatal("file deleted before its grace period")
	}
	deleted, err := n.CollectGarbage(context.Background(), time.Now().Add(100*24*time.Hour))
	if err != nil || deleted != 1 {
		t.Fatalf("gc deleted %d: %v", deleted, err)
	}
	if ok, _ := n.files.Has(context.Background(), hash); ok {
		t.Fatal("file kept after gc")
	}
}
