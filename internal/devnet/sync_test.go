package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/prom"
	"github.com/goaleph/goaleph/message"
)

// syncTimeout bounds the waits for bulk work and convergence. The tests
// assert that the nodes converge, not how fast: under the race detector,
// next to other test packages on 2 CPUs, 5,000 messages take 10–30 s where
// a normal build takes about 1 s (bench/sync and the test logs give the
// times).
const syncTimeout = 2 * time.Minute

// signPosts signs n distinct POSTs from a few accounts, in parallel.
func signPosts(t *testing.T, n int, tag string) []*message.Message {
	t.Helper()
	accounts := make([]*eth.Account, 8)
	for i := range accounts {
		accounts[i] = ethtest.Account(t)
	}
	out := make([]*message.Message, n)
	base := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				a := accounts[i%len(accounts)]
				now := base.Add(time.Duration(i) * time.Millisecond)
				content, _ := json.Marshal(map[string]any{"address": a.Address(), "time": float64(now.UnixMilli()) / 1000,
					"type": "test", "content": map[string]any{"tag": tag, "i": i}})
				m, err := message.NewInline(a, message.TypePost, "TEST", string(content), now)
				if err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
				out[i] = m
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	return out
}

// postAll posts messages to a node's API over 16 connections, with
// "sync": false, and fails on any answer but 202.
func postAll(t *testing.T, n *Node, msgs []*message.Message) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: syncTimeout}
	work := make(chan *message.Message)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for range 16 {
		wg.Go(func() {
			for m := range work {
				body, _ := json.Marshal(map[string]any{"sync": false, "message": m})
				resp, err := c.Post(n.APIURL()+"/api/v0/messages", "application/json", bytes.NewReader(body))
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						err = fmt.Errorf("HTTP %d", resp.StatusCode)
					}
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, m.ItemHash+": "+err.Error())
					mu.Unlock()
				}
			}
		})
	}
	for _, m := range msgs {
		work <- m
	}
	close(work)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("node %d: %d posts failed, first: %s", n.Index(), len(failures), failures[0])
	}
}

// hashSet returns the node's set of processed and forgotten hashes, sorted.
func hashSet(t *testing.T, n *Node) []string {
	t.Helper()
	var out []string
	if err := n.Core().Store().Hashes(t.Context(), func(_ float64, h string) error {
		out = append(out, h)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// waitSameSets waits until every node holds the same set as node 0 and
// that set contains want; it returns how long that took.
func waitSameSets(t *testing.T, nw *Network, want []*message.Message, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		sets := make([][]string, len(nw.Nodes()))
		equal := true
		for i, n := range nw.Nodes() {
			sets[i] = hashSet(t, n)
			if i > 0 && !slices.Equal(sets[i], sets[0]) {
				equal = false
			}
		}
		if equal && containsAll(sets[0], want) {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			for i, s := range sets {
				t.Errorf("node %d holds %d messages (%d of the %d posted)", i, len(s), countIn(s, want), len(want))
			}
			t.Fatalf("the nodes' sets differ after %s", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func countIn(set []string, msgs []*message.Message) int {
	n := 0
	for _, m := range msgs {
		if _, ok := slices.BinarySearch(set, m.ItemHash); ok {
			n++
		}
	}
	return n
}

func containsAll(set []string, msgs []*message.Message) bool { return countIn(set, msgs) == len(msgs) }

// sumCounter adds the values of every series of a counter whose labels
// include label=value.
func sumCounter(t *testing.T, n *Node, name, label, value string) float64 {
	t.Helper()
	total, err := prom.SumCounter(n.Core().Registry(), name, label, value)
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// TestCatchUpAfterRestart: node C is stopped, 5,000 messages are posted to
// A and B, C restarts and reaches exactly the same set as A and B through
// the sync protocol (gossip cannot bring it what was published while it
// was away).
func TestCatchUpAfterRestart(t *testing.T) {
	// A period longer than the test: only the session on reconnection runs.
	nw := start(t, Config{SyncPeriod: time.Hour, ReadyTimeout: syncTimeout})
	a, b := nw.Nodes()[0], nw.Nodes()[1]
	if err := nw.StopNode(2); err != nil {
		t.Fatal(err)
	}
	msgs := signPosts(t, 5000, "catch-up")
	var wg sync.WaitGroup
	wg.Go(func() { postAll(t, a, msgs[:2500]) })
	wg.Go(func() { postAll(t, b, msgs[2500:]) })
	wg.Wait()
	for _, n := range []*Node{a, b} {
		deadline := time.Now().Add(syncTimeout)
		for !containsAll(hashSet(t, n), msgs) {
			if time.Now().After(deadline) {
				t.Fatalf("node %d holds %d of the %d messages before C restarts", n.Index(), countIn(hashSet(t, n), msgs), len(msgs))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	c := nw.Nodes()[2]
	restart := time.Now()
	if err := nw.StartNode(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	took := waitSameSets(t, nw, msgs, syncTimeout)
	t.Logf("C converged %s after its restart began (%s after it was ready)", time.Since(restart).Round(time.Millisecond), took.Round(time.Millisecond))
	got := sumCounter(t, c, "aleph_p2p_sync_messages_total", "direction", "received")
	if got < float64(len(msgs)) {
		t.Errorf("C received %v messages by sync, want at least %d", got, len(msgs))
	}
	if need := sumCounter(t, c, "aleph_p2p_sync_differences_total", "direction", "need") +
		sumCounter(t, a, "aleph_p2p_sync_differences_total", "direction", "have") +
		sumCounter(t, b, "aleph_p2p_sync_differences_total", "direction", "have"); need < float64(len(msgs)) {
		t.Errorf("sync sessions found %v differences, want at least %d", need, len(msgs))
	}
}

// TestPartitionHeals: the network splits into {A} and {B, C}, messages go
// to both sides, the split heals, and all three nodes end with the same set.
func TestPartitionHeals(t *testing.T) {
	nw := start(t, Config{SyncPeriod: 2 * time.Second, ReadyTimeout: syncTimeout})
	a, b, c := nw.Nodes()[0], nw.Nodes()[1], nw.Nodes()[2]
	nw.Partition([]int{0}, []int{1, 2})
	msgs := signPosts(t, 900, "partition")
	left, right := msgs[:300], msgs[300:]
	var wg sync.WaitGroup
	wg.Go(func() { postAll(t, a, left) })
	wg.Go(func() { postAll(t, b, right[:300]) })
	wg.Go(func() { postAll(t, c, right[300:]) })
	wg.Wait()
	// Each side sees its own messages only: B and C converge between them.
	deadline := time.Now().Add(syncTimeout)
	for !containsAll(hashSet(t, b), right) || !containsAll(hashSet(t, c), right) {
		if time.Now().After(deadline) {
			t.Fatalf("B and C hold %d and %d of their side's %d messages", countIn(hashSet(t, b), right), countIn(hashSet(t, c), right), len(right))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := countIn(hashSet(t, a), right); got != 0 {
		t.Fatalf("A, cut off, holds %d messages of the other side", got)
	}
	if got := countIn(hashSet(t, b), left) + countIn(hashSet(t, c), left); got != 0 {
		t.Fatalf("B and C hold %d of A's messages across the partition", got)
	}

	ctx, cancel := context.WithTimeout(t.Context(), syncTimeout)
	defer cancel()
	heal := time.Now()
	if err := nw.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	waitSameSets(t, nw, msgs, syncTimeout)
	t.Logf("the three nodes converged %s after the split began to heal", time.Since(heal).Round(time.Millisecond))
}

// TestCatchUpForgotten: while C is away, a message is posted and then
// forgotten on A. C restarts and ends with the same set: the FORGET
// processed and the message held as forgotten, though its content is gone
// everywhere.
func TestCatchUpForgotten(t *testing.T) {
	nw := start(t, Config{SyncPeriod: time.Hour, ReadyTimeout: syncTimeout})
	a, c := nw.Nodes()[0], nw.Nodes()[2]
	if err := nw.StopNode(2); err != nil {
		t.Fatal(err)
	}
	acc := ethtest.Account(t)
	cl := client.New(a.APIURL())
	kept, err := cl.Post(t.Context(), acc, client.PostParams{Type: "test", Content: map[string]string{"body": "kept"}, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := cl.Post(t.Context(), acc, client.PostParams{Type: "test", Content: map[string]string{"body": "gone"}, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	forget, err := cl.Forget(t.Context(), acc, client.ForgetParams{Hashes: []string{gone.Message.ItemHash}, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, a, gone.Message.ItemHash, client.StatusForgotten)
	if err := nw.StartNode(t.Context(), 2); err != nil {
		t.Fatal(err)
	}
	waitSameSets(t, nw, nil, syncTimeout)
	waitStatus(t, c, kept.Message.ItemHash, client.StatusProcessed)
	waitStatus(t, c, forget.Message.ItemHash, client.StatusProcessed)
	waitStatus(t, c, gone.Message.ItemHash, client.StatusForgotten)
	// One skeleton per peer that had it (A and B both sync with C).
	if got := sumCounter(t, c, "aleph_p2p_sync_messages_total", "result", "forgotten"); got < 1 || got > 2 {
		t.Errorf("C accepted %v forgotten skeletons, want 1 or 2", got)
	}
}
