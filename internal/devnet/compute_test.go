package devnet_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
	"github.com/goaleph/goaleph/internal/devnet"
	_ "github.com/goaleph/goaleph/internal/devnet/devcrn"
	"github.com/goaleph/goaleph/message"
)

// TestCompute publishes a WASM program on node 1 and calls it through the
// devnet's compute node, which reads from node 0: the program, its code and
// runtime reach node 0 by gossip and file transfer.
func TestCompute(t *testing.T) {
	module, err := wasmtest.Build(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	nw, err := devnet.Start(t.Context(), devnet.Config{Nodes: 2, Compute: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := nw.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	if nw.ComputeURL() == "" {
		t.Fatal("no compute URL")
	}
	a, err := eth.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	c := client.New(nw.Nodes()[1].APIURL())
	store := func(r io.ReadSeeker) string {
		res, err := c.Store(t.Context(), a, r, client.StoreParams{Sync: true})
		if err != nil || res.Status != client.StatusProcessed {
			t.Fatalf("store: %v %v", res, err)
		}
		return res.Message.ItemHash
	}
	runtime := store(bytes.NewReader([]byte(crn.WASMRuntimeMarker)))
	f, err := os.Open(module)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	code := store(f)
	now := time.Now()
	content, _ := json.Marshal(map[string]any{
		"address": a.Address(), "time": float64(now.UnixMilli()) / 1000,
		"type": "vm-function", "allow_amend": false,
		"code":        map[string]any{"encoding": "plain", "entrypoint": "main.wasm", "ref": code, "use_latest": false},
		"runtime":     map[string]any{"ref": runtime, "use_latest": true, "comment": "WASI preview 1"},
		"on":          map[string]any{"http": true},
		"environment": map[string]any{"internet": false},
		"resources":   map[string]any{"vcpus": 1, "memory": 64, "seconds": 5},
	})
	m, err := message.NewInline(a, message.TypeProgram, "TEST", string(content), now)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Submit(t.Context(), m, true); err != nil || st != client.StatusProcessed {
		t.Fatalf("submit: %v %v", st, err)
	}

	// Node 0 may not have the program yet: the node answers 4xx until then.
	url := nw.ComputeURL() + "/vm/" + m.ItemHash + "/hello?x=1"
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			var echo wasmtest.Echo
			if err := json.Unmarshal(body, &echo); err != nil {
				t.Fatalf("answer %q: %v", body, err)
			}
			if echo.Path != "/hello" || echo.Query != "x=1" {
				t.Errorf("program saw %s ? %s, want /hello ? x=1", echo.Path, echo.Query)
			}
			if sv := resp.Header.Get("Server"); !strings.HasPrefix(sv, "aleph-vm/") {
				t.Errorf("Server: %q, want aleph-vm/…", sv)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %s", url, resp.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
