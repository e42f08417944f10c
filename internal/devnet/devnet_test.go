package devnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/p2p"
	"github.com/goaleph/goaleph/internal/prom"
	"github.com/goaleph/goaleph/message"
)

// waitTimeout bounds every wait of these tests (CI runs them with -race on
// two cores, next to other packages).
const waitTimeout = time.Minute

func start(t *testing.T, cfg Config) *Network {
	t.Helper()
	nw, err := Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nw.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return nw
}

func post(t *testing.T, a *eth.Account, body string) *message.Message {
	t.Helper()
	now := time.Now()
	content, _ := json.Marshal(map[string]any{"address": a.Address(), "time": float64(now.UnixMilli()) / 1000,
		"type": "test", "content": map[string]string{"body": body}})
	m, err := message.NewInline(a, message.TypePost, "TEST", string(content), now)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// waitStatus polls the node until the message has the status want.
func waitStatus(t *testing.T, n *Node, hash string, want client.Status) {
	t.Helper()
	c := client.New(n.APIURL())
	deadline := time.Now().Add(waitTimeout)
	var last string
	for time.Now().Before(deadline) {
		r, err := c.MessageStatus(t.Context(), hash)
		if err == nil && r.Status == want {
			return
		}
		if err != nil {
			last = err.Error()
		} else {
			last = string(r.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node %d: message %s not %s after %s (last: %s)", n.Index(), hash, want, waitTimeout, last)
}

// requireUnknown checks that no node stored anything for hash.
func requireUnknown(t *testing.T, nw *Network, hash string) {
	t.Helper()
	for _, n := range nw.Nodes() {
		_, err := client.New(n.APIURL()).MessageStatus(t.Context(), hash)
		var e *client.Error
		if !errors.As(err, &e) || e.Status != 404 {
			t.Errorf("node %d: status of %s: %v, want 404", n.Index(), hash, err)
		}
	}
}

// counter reads a counter of the node's registry: its first series with
// label=value (0 when absent).
func counter(t *testing.T, n *Node, name, label, value string) float64 {
	t.Helper()
	vs, err := prom.CounterValues(n.Core().Registry(), name, label, value)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		return 0
	}
	return vs[0]
}

func waitCounter(t *testing.T, n *Node, name, label, value string, min float64) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		if counter(t, n, name, label, value) >= min {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("node %d: %s{%s=%q} < %v after %s", n.Index(), name, label, value, min, waitTimeout)
}

func TestMessagePropagates(t *testing.T) {
	nw := start(t, Config{})
	a := ethtest.Account(t)
	m := post(t, a, "hello devnet")
	nodes := nw.Nodes()
	st, err := client.New(nodes[0].APIURL()).Submit(t.Context(), m, true)
	if err != nil || st != client.StatusProcessed {
		t.Fatalf("submit to A: %v %v", st, err)
	}
	for _, n := range nodes[1:] {
		waitStatus(t, n, m.ItemHash, client.StatusProcessed)
	}
	waitCounter(t, nodes[0], "aleph_p2p_gossip_messages_out_total", "topic", p2p.MessageTopic, 1)
	waitCounter(t, nodes[1], "aleph_p2p_gossip_messages_in_total", "topic", p2p.MessageTopic, 1)
	// B and C received it from gossip: they do not publish it again.
	for _, n := range nodes[1:] {
		if v := counter(t, n, "aleph_p2p_gossip_messages_out_total", "topic", p2p.MessageTopic); v != 0 {
			t.Errorf("node %d published %v messages, want 0", n.Index(), v)
		}
	}
}

// rawPeer is a bare libp2p host on the message topic, outside the devnet.
type rawPeer struct {
	topic *pubsub.Topic
}

func newRawPeer(t *testing.T, target *Node) *rawPeer {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		h.Close()
	})
	ps, err := pubsub.NewGossipSub(ctx, h, pubsub.WithFloodPublish(true))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(p2p.MessageTopic)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := topic.Subscribe(); err != nil {
		t.Fatal(err)
	}
	info, err := peer.AddrInfoFromString(target.P2PAddrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Connect(t.Context(), *info); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitTimeout)
	for !containsPeer(topic.ListPeers(), info.ID) || !containsPeer(target.P2P().TopicPeers(), h.ID()) {
		if time.Now().After(deadline) {
			t.Fatal("raw peer not on the topic with the node")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &rawPeer{topic: topic}
}

func containsPeer(ps []peer.ID, id peer.ID) bool {
	for _, p := range ps {
		if p == id {
			return true
		}
	}
	return false
}

func (r *rawPeer) publish(t *testing.T, data []byte) {
	t.Helper()
	if err := r.topic.Publish(t.Context(), data); err != nil {
		t.Fatal(err)
	}
}

func TestBadGossipIsDroppedAndCounted(t *testing.T) {
	nw := start(t, Config{})
	nodes := nw.Nodes()
	raw := newRawPeer(t, nodes[0])
	a := ethtest.Account(t)

	raw.publish(t, []byte(`{"this is": not json`))
	raw.publish(t, []byte(`{"type":"POST"}`))

	forged := post(t, a, "forged")
	forged.Signature = "0x" + strings.Repeat("ab", 65)
	env, _ := json.Marshal(forged)
	raw.publish(t, env)

	unsigned := post(t, a, "unsigned")
	unsigned.Signature = ""
	env, _ = json.Marshal(unsigned)
	raw.publish(t, env)

	// A genuine message padded beyond the 256 KiB gossip limit.
	big := post(t, a, "big")
	env, _ = json.Marshal(big)
	padded := append(env[:len(env)-1], []byte(`,"padding":"`+strings.Repeat("x", p2p.MaxPayload)+`"}`)...)
	raw.publish(t, padded)

	A := nodes[0]
	waitCounter(t, A, "aleph_p2p_gossip_dropped_total", "reason", "malformed", 2)
	waitCounter(t, A, "aleph_p2p_gossip_dropped_total", "reason", "bad_signature", 2)
	waitCounter(t, A, "aleph_p2p_gossip_dropped_total", "reason", "too_large", 1)
	for _, h := range []string{forged.ItemHash, unsigned.ItemHash, big.ItemHash} {
		requireUnknown(t, nw, h)
	}

	// The nodes keep running, and a URL-encoded envelope (legacy
	// senders) is accepted and forwarded.
	good := post(t, a, "percent-encoded")
	env, _ = json.Marshal(good)
	raw.publish(t, []byte(url.PathEscape(string(env))))
	for _, n := range nodes {
		waitStatus(t, n, good.ItemHash, client.StatusProcessed)
	}
	// Nothing of the bad traffic was forwarded to B and C.
	for _, n := range nodes[1:] {
		for _, reason := range []string{"malformed", "bad_signature", "too_large"} {
			if v := counter(t, n, "aleph_p2p_gossip_dropped_total", "reason", reason); v != 0 {
				t.Errorf("node %d dropped %v %s messages: A forwarded them", n.Index(), v, reason)
			}
		}
	}
}

func TestStoreFileDownloadsFromAnotherNode(t *testing.T) {
	nw := start(t, Config{})
	nodes := nw.Nodes()
	data := make([]byte, 300_000)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "file.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	a := ethtest.Account(t)
	res, err := client.New(nodes[0].APIURL()).StoreFile(t.Context(), a, path, client.StoreParams{Sync: true})
	if err != nil || res.Status != client.StatusProcessed {
		t.Fatalf("store on A: %v %v", res, err)
	}
	C := nodes[2]
	waitStatus(t, C, res.Message.ItemHash, client.StatusProcessed)
	var got bytes.Buffer
	if _, err := client.New(C.APIURL()).Download(t.Context(), res.FileHash, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("downloaded %d bytes from C, not the file stored on A", got.Len())
	}
	waitCounter(t, C, "aleph_p2p_content_fetches_total", "result", "found", 1)
}

func TestDataDirKeepsIdentityAndPorts(t *testing.T) {
	dir := t.TempDir()
	nw, err := Start(t.Context(), Config{Nodes: 2, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{nw.Nodes()[0].PeerID(), nw.Nodes()[1].PeerID()}
	urls := []string{nw.Nodes()[0].APIURL(), nw.Nodes()[1].APIURL()}
	if err := nw.Stop(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "node-0", p2p.KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	nw = start(t, Config{Nodes: 2, DataDir: dir})
	for i, n := range nw.Nodes() {
		if n.PeerID() != ids[i] {
			t.Errorf("node %d: peer id %s after restart, was %s", i, n.PeerID(), ids[i])
		}
		if n.APIURL() != urls[i] {
			t.Logf("node %d: API moved from %s to %s (port taken meanwhile)", i, urls[i], n.APIURL())
		}
	}
}

func TestStartFailureReleasesNodes(t *testing.T) {
	dir := t.TempDir()
	_, err := Start(t.Context(), Config{Nodes: 2, DataDir: dir, NodeConfig: func(i int, c *node.Config) {
		if i == 1 {
			c.DatabaseURL = "nosuchdb://x"
		}
	}})
	if err == nil {
		t.Fatal("a node with a bad database started")
	}
	// Node 0 was created: its stores must have been released.
	start(t, Config{Nodes: 2, DataDir: dir})
}
