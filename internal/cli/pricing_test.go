package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/node"
)

func TestPricing(t *testing.T) {
	e := newEnv(t, startNode(t))
	var table map[string]struct {
		Price struct {
			ComputeUnit map[string]string `json:"compute_unit"`
			Storage     map[string]string `json:"storage"`
		} `json:"price"`
		ComputeUnit struct {
			DiskMiB int64 `json:"disk_mib"`
		} `json:"compute_unit"`
	}
	e.okJSON(&table, "pricing")
	if in := table["instance"]; in.Price.ComputeUnit["holding"] != "1000.0" || in.Price.ComputeUnit["credit"] != "14250.0" || in.ComputeUnit.DiskMiB != 20480 {
		t.Errorf("instance: %+v", in)
	}
	if st := table["storage"]; st.Price.Storage["holding"] != "0.333333333" {
		t.Errorf("storage: %+v", st)
	}
	out := e.ok("pricing", "program")
	if !strings.Contains(out, "program") || !strings.Contains(out, "200") || !strings.Contains(out, "11000") || strings.Contains(out, "instance") {
		t.Errorf("aleph pricing program:\n%s", out)
	}
	if l := e.fails("pricing", "nonsense"); !strings.Contains(l, "unknown product") {
		t.Errorf("unknown product: %q", l)
	}
}

// TestUploadRefusedEarly: against a node with quotas on, an upload whose
// cost the account's balance cannot cover is refused before the message is
// sent, with the cost printed; after a balance top-up it goes through.
func TestUploadRefusedEarly(t *testing.T) {
	e := newEnv(t, "")
	var acc struct{ Address string }
	e.okJSON(&acc, "account", "create")
	// The account is its own balance oracle.
	e.api = startNodeWith(t, node.Config{Economy: node.EconomyConfig{Quota: true},
		Balances: node.BalancesConfig{Addresses: []string{acc.Address}}})
	big := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(big, make([]byte, 26<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := e.run("", "file", "upload", big, "--no-progress")
	if code == 0 || !strings.Contains(errs, "cost: 8.666666658 ALEPH held (hold)") || !strings.Contains(errs, "not sent") {
		t.Fatalf("26 MiB upload with no balance: exit %d\n%s%s", code, out, errs)
	}
	if _, errs, code := e.run("", "file", "upload", big, "--payment-type", "stream"); code == 0 || !strings.Contains(errs, "--payment-type") {
		t.Fatalf("bad payment type: exit %d %s", code, errs)
	}
	top := func(amount string) {
		t.Helper()
		c, _ := json.Marshal(map[string]any{"chain": "ETH", "main_height": len(amount), "balances": map[string]string{acc.Address: amount}})
		e.ok("post", "create", "--type", "balances-update", "--content", string(c))
	}
	top("9")
	var w writeResult
	e.okJSON(&w, "file", "upload", big, "--no-progress")
	if w.Status != "processed" {
		t.Fatalf("upload after the top-up: %+v", w)
	}
	// A program holds 200 ALEPH: refused with 9 − 8.67 free.
	main := filepath.Join(t.TempDir(), "main.wasm")
	if err := os.WriteFile(main, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code = e.run("", "program", "upload", main, "main.wasm", "--wasm")
	if code == 0 || !strings.Contains(errs, "cost: 200.0 ALEPH held (hold)") || !strings.Contains(errs, "held by earlier messages") {
		t.Fatalf("program with 9 ALEPH: exit %d %s", code, errs)
	}
	top("300")
	var up programUpload
	e.okJSON(&up, "program", "upload", main, "main.wasm", "--wasm")
	if up.Status != "processed" {
		t.Fatalf("program after the top-up: %+v", up)
	}
	// What the file and the program hold.
	if out := e.ok("account", "balance"); !strings.Contains(out, "300.0 ALEPH") || !strings.Contains(out, "held by its messages: 208.666666658 ALEPH") {
		t.Errorf("account balance:\n%s", out)
	}
}
