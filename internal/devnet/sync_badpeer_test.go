package devnet

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/p2p"
	"github.com/goaleph/goaleph/internal/p2p/reconcile"
	"github.com/goaleph/goaleph/message"
)

// TestBadSyncPeer: a peer that announces messages in a sync session and
// then sends forged, unannounced, malformed or oversized frames ends its
// session, is counted, and nothing it sent reaches the store.
func TestBadSyncPeer(t *testing.T) {
	nw := start(t, Config{Nodes: 1, SyncPeriod: time.Hour})
	A := nw.Nodes()[0]
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	info, err := peer.AddrInfoFromString(A.P2PAddrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Connect(t.Context(), *info); err != nil {
		t.Fatal(err)
	}
	acc := ethtest.Account(t)

	// session announces m and then writes frames instead of its envelope.
	session := func(m *message.Message, frames ...[]byte) {
		t.Helper()
		st, err := h.NewStream(t.Context(), info.ID, p2p.SyncProtocol)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		b := reconcile.NewBuilder(1)
		b.Add(m.Time, m.ItemHash)
		res, err := reconcile.Sync(t.Context(), st, b.Build())
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Have) != 1 || res.Have[0] != m.ItemHash {
			t.Fatalf("reconciliation: have %v, want the announced message", res.Have)
		}
		for _, f := range frames {
			var hdr [binary.MaxVarintLen64]byte
			n := binary.PutUvarint(hdr[:], uint64(len(f)))
			st.Write(hdr[:n])
			st.Write(f)
		}
		st.CloseWrite()
	}
	frame := func(kind byte, m *message.Message) []byte {
		b, _ := json.Marshal(m)
		return append([]byte{kind}, b...)
	}
	end := []byte{}

	forged := post(t, acc, "forged")
	forged.Signature = "0x" + strings.Repeat("ab", 65)
	session(forged, frame('m', forged), end)
	waitCounter(t, A, "aleph_p2p_sync_messages_total", "result", "bad_signature", 1)

	announced, other := post(t, acc, "announced"), post(t, acc, "not announced")
	session(announced, frame('m', other), end)
	waitCounter(t, A, "aleph_p2p_sync_messages_total", "result", "unexpected", 1)

	garbled := post(t, acc, "garbled")
	session(garbled, []byte(`m{"item_hash": 12`), end)
	waitCounter(t, A, "aleph_p2p_sync_messages_total", "result", "malformed", 1)
	session(garbled, []byte(`x{}`), end)
	waitCounter(t, A, "aleph_p2p_sync_messages_total", "result", "malformed", 2)

	huge := post(t, acc, "huge")
	session(huge, append([]byte{'m'}, strings.Repeat(" ", 2<<20)...))
	waitCounter(t, A, "aleph_p2p_sync_sessions_total", "result", "error", 5)

	requireUnknown(t, nw, forged.ItemHash)
	requireUnknown(t, nw, other.ItemHash)
	requireUnknown(t, nw, garbled.ItemHash)
	requireUnknown(t, nw, huge.ItemHash)

	// An honest session still works: the announced message arrives.
	good := post(t, acc, "good")
	session(good, frame('m', good), end)
	waitStatus(t, A, good.ItemHash, client.StatusProcessed)
}
