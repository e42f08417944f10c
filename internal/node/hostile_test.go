package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// dirSize is the total size of the regular files under dir.
func dirSize(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// unsigned is an inline POST envelope from sender with a zero signature
// and about padding bytes of content.
func unsigned(sender string, i, padding int) map[string]any {
	content := fmt.Sprintf(`{"address":%q,"time":%d,"type":"test","content":{"pad":%q}}`,
		"0x0000000000000000000000000000000000000000", 1700000000+i, strings.Repeat("x", padding))
	return map[string]any{
		"chain": "ETH", "sender": sender, "type": "POST", "channel": "TEST",
		"item_type": "inline", "item_content": content, "item_hash": message.InlineHash(content),
		"time": 1700000000 + i, "signature": "0x" + strings.Repeat("0", 130),
	}
}

func postEnvelope(t *testing.T, url string, env map[string]any) (int, string) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"message": env, "sync": false})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url+"/api/v0/messages", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHostileSenderCostsNoDisk replays issue 13 row 1: unsigned envelopes
// posted by a stranger. An oversized sender is refused before anything is
// stored; an unsigned envelope of legal shape is kept as a bounded record
// of at most 1 KB of disk per request whatever its content size.
func TestHostileSenderCostsNoDisk(t *testing.T) {
	dir := t.TempDir()
	// Baseline: the data directory of a node that has run once, closed
	// (closing the SQLite store checkpoints its WAL into the database).
	_, stop := startNode(t, Config{DataDir: dir})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	before := dirSize(t, dir)

	n, stop := startNode(t, Config{DataDir: dir})
	srv := httptest.NewServer(n.Handler())
	const requests = 100
	huge := strings.Repeat("a", 900000)
	for i := 0; i < requests; i++ {
		code, body := postEnvelope(t, srv.URL, unsigned(huge, i, 10))
		if code != http.StatusUnprocessableEntity {
			t.Fatalf("900,000-character sender: HTTP %d, want 422", code)
		}
		if len(body) > 1024 || !strings.Contains(body, "sender longer than") {
			t.Fatalf("900,000-character sender: error body of %d bytes: %.200s", len(body), body)
		}
	}
	sender := "0x" + strings.Repeat("ab", 20)
	hashes := make([]string, requests)
	for i := 0; i < requests; i++ {
		env := unsigned(sender, requests+i, 150000)
		hashes[i] = env["item_hash"].(string)
		if code, body := postEnvelope(t, srv.URL, env); code != http.StatusAccepted {
			t.Fatalf("unsigned envelope: HTTP %d %.200s, want 202", code, body)
		}
	}
	for _, h := range hashes {
		st := waitStatus(t, n, h, store.StatusRejected)
		if st.Rejected.ErrorCode != message.CodeInvalidSignature {
			t.Fatalf("%s: error code %d, want %d", h, st.Rejected.ErrorCode, message.CodeInvalidSignature)
		}
		if len(st.Rejected.Message)+len(st.Rejected.Details) > 1024 {
			t.Fatalf("%s: rejected record of %d bytes", h, len(st.Rejected.Message)+len(st.Rejected.Details))
		}
	}
	// The record still answers in the reference's shape.
	resp, err := http.Get(srv.URL + "/api/v0/messages/" + hashes[0])
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Status    string          `json:"status"`
		ItemHash  string          `json:"item_hash"`
		ErrorCode int             `json:"error_code"`
		Message   map[string]any  `json:"message"`
		Details   json.RawMessage `json:"details"`
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != "rejected" || got.ItemHash != hashes[0] || got.ErrorCode != int(message.CodeInvalidSignature) ||
		got.Message["item_hash"] != hashes[0] || got.Message["sender"] != sender {
		t.Fatalf("GET rejected message: %+v", got)
	}
	srv.Close()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	after := dirSize(t, dir)
	// Counted against the unsigned envelopes alone (the refused ones
	// must cost nothing).
	perRequest := float64(after-before) / requests
	t.Logf("data directory %d → %d bytes: %.0f bytes per unsigned envelope", before, after, perRequest)
	if perRequest > 1024 {
		t.Fatalf("data directory grew %.0f bytes per request, want ≤ 1024", perRequest)
	}
}

// awkwardText has every character that query-string decoding or careless
// escaping would change.
const awkwardText = "C++ 1+1=2 100% a&b=c %zz é 漢字"

// TestAwkwardContentThroughBothRoutes posts content with "+", "%", "&",
// "=" and non-ASCII text through /messages and through the legacy pubsub
// route (as a raw JSON string, as a percent-encoded string, and as an
// object) and checks each is processed with its text intact.
func TestAwkwardContentThroughBothRoutes(t *testing.T) {
	n := testNode(t, Config{})
	srv := httptest.NewServer(n.Handler())
	defer srv.Close()
	a := ethtest.Account(t)
	postJSON := func(path string, body any) (int, string) {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post(srv.URL+path, "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	routes := []struct {
		name string
		send func(m *message.Message) (int, string)
		want int
	}{
		{"messages", func(m *message.Message) (int, string) {
			return postJSON("/api/v0/messages", map[string]any{"message": m, "sync": true})
		}, http.StatusOK},
		{"pubsub string", func(m *message.Message) (int, string) {
			env, _ := json.Marshal(m)
			return postJSON("/api/v0/ipfs/pubsub/pub", map[string]any{"topic": "ALEPH-TEST", "data": string(env)})
		}, http.StatusOK},
		{"pubsub percent-encoded string", func(m *message.Message) (int, string) {
			env, _ := json.Marshal(m)
			return postJSON("/api/v0/ipfs/pubsub/pub", map[string]any{"topic": "ALEPH-TEST", "data": url.PathEscape(string(env))})
		}, http.StatusOK},
		{"pubsub object", func(m *message.Message) (int, string) {
			return postJSON("/api/v0/ipfs/pubsub/pub", map[string]any{"topic": "ALEPH-TEST", "data": m})
		}, http.StatusOK},
	}
	for _, r := range routes {
		text := awkwardText + " via " + r.name
		m := post(t, a, "chat", map[string]any{"body": text}, "")
		if !strings.Contains(m.ItemContent, "C++") {
			t.Fatalf("content lost its + before sending: %s", m.ItemContent)
		}
		if code, body := r.send(m); code != r.want {
			t.Fatalf("%s: HTTP %d %s, want %d", r.name, code, body, r.want)
		}
		waitStatus(t, n, m.ItemHash, store.StatusProcessed)
		var got struct {
			Body string `json:"body"`
		}
		if err := json.Unmarshal(readPost(t, n, m.ItemHash).Content, &got); err != nil {
			t.Fatal(err)
		}
		if got.Body != text {
			t.Fatalf("%s: stored %q, want %q", r.name, got.Body, text)
		}
	}
}

// A signed message rejected for something else than its signature keeps
// its whole envelope only when that is small: a large one is kept without
// item_content, so a record costs a few KB whoever sends it.
func TestRejectedRecordBounded(t *testing.T) {
	n := testNode(t, Config{})
	owner, other := ethtest.Account(t), ethtest.Account(t)
	for _, size := range []int{100, 150000} {
		// Signed by other for owner's address: permission denied.
		c := map[string]any{"type": "chat", "content": map[string]any{"body": strings.Repeat("x", size)}, "address": owner.Address()}
		m := sign(t, other, message.TypePost, c)
		if st, err := submit(t, n, m, true); st != store.StatusRejected || message.CodeOf(err) != message.CodePermissionDenied {
			t.Fatalf("%d-byte body: %s %v, want rejected with permission denied", size, st, err)
		}
		rej := waitStatus(t, n, m.ItemHash, store.StatusRejected).Rejected
		var env map[string]any
		if err := json.Unmarshal(rej.Message, &env); err != nil {
			t.Fatal(err)
		}
		if env["item_hash"] != m.ItemHash || env["sender"] != m.Sender || env["signature"] != m.Signature {
			t.Fatalf("%d-byte body: record %.300s", size, rej.Message)
		}
		if len(rej.Message) > maxRejectedEnvelope || len(rej.Details) > maxRejectedDetails {
			t.Fatalf("%d-byte body: record of %d + %d bytes", size, len(rej.Message), len(rej.Details))
		}
		kept, _ := env["item_content"].(string)
		if whole := size < maxRejectedEnvelope; whole != (kept == m.ItemContent) || !whole && kept != "" {
			t.Fatalf("%d-byte body: item_content of %d bytes kept (sent %d)", size, len(kept), len(m.ItemContent))
		}
	}
}
