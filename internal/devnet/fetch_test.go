package devnet

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/message"
)

// TestFetchRehashes gives a node one HTTP peer that first serves wrong
// bytes for a file, then the right ones: the wrong bytes are never stored
// (the STORE message waits), the right ones are, and the message is
// processed.
func TestFetchRehashes(t *testing.T) {
	data := make([]byte, 4096)
	rand.Read(data)
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	var honest atomic.Bool
	var served atomic.Int64
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/v0/version":
			w.Write([]byte(`{"version":"test"}`))
		case r.URL.Path == "/api/v0/storage/raw/"+hash:
			served.Add(1)
			if honest.Load() {
				w.Write(data)
			} else {
				w.Write([]byte("not the file"))
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer peer.Close()

	nw := start(t, Config{Nodes: 1})
	n := nw.Nodes()[0]
	if err := n.P2P().AddHTTPPeer(peer.URL); err != nil {
		t.Fatal(err)
	}
	a := ethtest.Account(t)
	now := time.Now()
	content, _ := json.Marshal(map[string]any{"address": a.Address(), "time": float64(now.UnixMilli()) / 1000,
		"item_type": "storage", "item_hash": hash})
	m, err := message.NewInline(a, message.TypeStore, "TEST", string(content), now)
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(n.APIURL())
	if st, err := c.Submit(t.Context(), m, false); err != nil || st != client.StatusPending {
		t.Fatalf("submit: %v %v", st, err)
	}
	deadline := time.Now().Add(waitTimeout)
	for served.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the node never asked its peer for the file")
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitCounter(t, n, "aleph_p2p_content_fetches_total", "result", "found", 1)
	if _, err := c.Download(t.Context(), hash, &strings.Builder{}); err == nil {
		t.Fatal("the node serves a file it got with a wrong hash")
	}
	if r, err := c.MessageStatus(t.Context(), m.ItemHash); err != nil || r.Status != client.StatusPending {
		t.Fatalf("status after a bad download: %v %v", r, err)
	}
	honest.Store(true)
	waitStatus(t, n, m.ItemHash, client.StatusProcessed) // on the next retry
	var got strings.Builder
	if _, err := c.Download(t.Context(), hash, &got); err != nil || got.String() != string(data) {
		t.Fatalf("download after a good fetch: %d bytes, %v", got.Len(), err)
	}
}

// TestAliveAndProbes checks that the nodes announce themselves on the
// alive topic and find each other's HTTP API reachable.
func TestAliveAndProbes(t *testing.T) {
	nw := start(t, Config{AlivePeriod: 200 * time.Millisecond, ProbePeriod: 200 * time.Millisecond})
	for _, n := range nw.Nodes() {
		waitCounter(t, n, "aleph_p2p_gossip_messages_in_total", "topic", "ALIVE", 4)
		deadline := time.Now().Add(waitTimeout)
		for reachable(n) < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("node %d: %d HTTP peers reachable, want 2: %+v", n.Index(), reachable(n), n.P2P().Peers())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if v := counter(t, n, "aleph_p2p_gossip_dropped_total", "reason", "alive_invalid"); v != 0 {
			t.Errorf("node %d dropped %v alive messages", n.Index(), v)
		}
	}
}

func reachable(n *Node) int {
	k := 0
	for _, p := range n.P2P().Peers() {
		if p.Type == "HTTP" && p.Reachable {
			k++
		}
	}
	return k
}
