package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/files"
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
