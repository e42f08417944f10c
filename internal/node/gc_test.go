package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// TestGCRemovesOrphans plants files by hand in the file store's directory:
// the old one that no row names is deleted, a recent one (an upload about
// to be recorded) and an old one with a row are kept.
func TestGCRemovesOrphans(t *testing.T) {
	dir := t.TempDir()
	n := testNode(t, Config{DataDir: dir, GracePeriod: time.Hour})
	ctx := context.Background()
	old := time.Now().Add(-2 * time.Hour)
	plant := func(content string, mtime time.Time) string {
		t.Helper()
		sum := sha256.Sum256([]byte(content))
		hash := hex.EncodeToString(sum[:])
		p := filepath.Join(dir, "files", "storage", hash[len(hash)-3:len(hash)-1], hash)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return hash
	}
	orphan := plant("an orphan left by a crash\n", old)
	recent := plant("an upload not recorded yet\n", time.Now())

	kept, err := n.files.Add(ctx, files.Native, strings.NewReader("a recorded file\n"), files.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.PinUpload(ctx, kept); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "files", "storage", kept.Hash[61:63], kept.Hash)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	ipfsOrphan, err := n.files.Add(ctx, files.IPFS, strings.NewReader("an IPFS orphan\n"), files.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sp := filepath.Join(dir, "files", "ipfs", "files", ipfsOrphan.Hash[len(ipfsOrphan.Hash)-3:len(ipfsOrphan.Hash)-1], ipfsOrphan.Hash, "size")
	if err := os.Chtimes(sp, old, old); err != nil {
		t.Fatal(err)
	}

	deleted, err := n.CollectGarbage(ctx, time.Now())
	if err != nil || deleted != 2 {
		t.Fatalf("gc deleted %d: %v", deleted, err)
	}
	for hash, want := range map[string]bool{orphan: false, ipfsOrphan.Hash: false, recent: true, kept.Hash: true} {
		if ok, err := n.files.Has(ctx, hash); err != nil || ok != want {
			t.Errorf("file %s present %v (%v), want %v", hash, ok, err, want)
		}
	}
	// Adding an old orphan again renews its time: the next pass keeps it.
	rp := filepath.Join(dir, "files", "storage", recent[61:63], recent)
	if err := os.Chtimes(rp, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := n.files.Add(ctx, files.Native, strings.NewReader("an upload not recorded yet\n"), files.AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if deleted, err := n.CollectGarbage(ctx, time.Now()); err != nil || deleted != 0 {
		t.Fatalf("second gc deleted %d: %v", deleted, err)
	}
	if ok, _ := n.files.Has(ctx, recent); !ok {
		t.Fatal("re-added file deleted")
	}
}

// TestPruneRejected: rejected records go by number (the oldest first) and
// by age, the metric counts them, the rejected listing still answers, and
// a valid copy of a pruned hash is processed as if nothing had happened.
func TestPruneRejected(t *testing.T) {
	n := testNode(t, Config{Rejected: RejectedConfig{Retention: time.Hour, Max: 3}})
	ctx := context.Background()
	a := ethtest.Account(t)
	var valid []*message.Message
	for i := range 5 {
		m := post(t, a, "chat", map[string]any{"i": i}, "")
		valid = append(valid, m)
		bad := *m
		bad.Signature = "0x" + strings.Repeat("0", 130)
		if st, _ := submit(t, n, &bad, true); st != store.StatusRejected {
			t.Fatalf("bad signature %d: status %s, want rejected", i, st)
		}
	}
	status := func(hash string) store.Status {
		t.Helper()
		st, err := n.store.Status(ctx, hash)
		if errors.Is(err, store.ErrNotFound) {
			return "unknown"
		}
		if err != nil {
			t.Fatal(err)
		}
		return st.Status
	}

	pruned, err := n.PruneRejected(ctx, time.Now())
	if err != nil || pruned != 2 {
		t.Fatalf("over the cap of 3: pruned %d (%v), want 2", pruned, err)
	}
	// Rejected one after the other, so the first two are the oldest.
	for i, m := range valid {
		want := store.StatusRejected
		if i < 2 {
			want = "unknown"
		}
		if got := status(m.ItemHash); got != want {
			t.Errorf("record %d: %s, want %s", i, got, want)
		}
	}
	if pruned, err := n.PruneRejected(ctx, time.Now()); err != nil || pruned != 0 {
		t.Fatalf("at the cap, young: pruned %d (%v), want 0", pruned, err)
	}

	srv := httptest.NewServer(n.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v0/messages.json?message_statuses=rejected")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("rejected listing: HTTP %d", resp.StatusCode)
	}
	resp, err = http.Get(srv.URL + "/api/v0/messages/" + valid[4].ItemHash)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Status string `json:"status"`
	}
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || got.Status != "rejected" {
		t.Fatalf("a remaining record: %+v (%v), want rejected", got, err)
	}

	// Two hours later, the remaining three have expired.
	if pruned, err := n.PruneRejected(ctx, time.Now().Add(2*time.Hour)); err != nil || pruned != 3 {
		t.Fatalf("expired: pruned %d (%v), want 3", pruned, err)
	}
	if v := testutil.ToFloat64(n.metrics.rejectedPruned); v != 5 {
		t.Errorf("aleph_rejected_pruned_total = %v, want 5", v)
	}
	// A pruned hash is unknown; its valid copy is processed.
	for _, m := range valid {
		if got := status(m.ItemHash); got != "unknown" {
			t.Fatalf("pruned record: %s", got)
		}
		mustProcess(t, n, m)
	}
}
