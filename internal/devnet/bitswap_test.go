package devnet

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
)

// TestIPFSFileOverBitswap stores a file on the IPFS engine on node A: C
// gets the STORE message by gossip and the file from its peers over
// bitswap (no HTTP fetch at all), re-hashes it, and serves the same bytes.
func TestIPFSFileOverBitswap(t *testing.T) {
	nw := start(t, Config{})
	nodes := nw.Nodes()
	A, C := nodes[0], nodes[2]
	data := make([]byte, 700_000) // three chunks under a root
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "file.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := client.New(A.APIURL()).StoreFile(t.Context(), ethtest.Account(t), path,
		client.StoreParams{Engine: client.EngineIPFS, Sync: true})
	if err != nil || res.Status != client.StatusProcessed {
		t.Fatalf("store on A: %v %v", res, err)
	}
	if !strings.HasPrefix(res.FileHash, "Qm") {
		t.Fatalf("file hash %q is not a CIDv0", res.FileHash)
	}
	waitStatus(t, C, res.Message.ItemHash, client.StatusProcessed)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, C.APIURL()+"/api/v0/storage/raw/"+res.FileHash, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("GET raw from C: %s, %d bytes, %v; want the %d bytes stored on A", resp.Status, len(got), err, len(data))
	}
	waitCounter(t, C, "aleph_p2p_bitswap_fetches_total", "result", "found", 1)
	for _, r := range []string{"found", "not_found", "error"} {
		if v := counter(t, C, "aleph_p2p_content_fetches_total", "result", r); v != 0 {
			t.Errorf("C made %v HTTP fetches with result %s: the file came over HTTP", v, r)
		}
	}
}
