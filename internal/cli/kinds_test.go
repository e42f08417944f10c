package cli

import (
	"os"
	"strings"
	"testing"
)

// TestAccountKinds creates an account of every chain in the table with the
// binary, imports its stored secret into a fresh configuration (same
// address), and signs a POST and an AGGREGATE with it that a real node
// processes.
func TestAccountKinds(t *testing.T) {
	api := startNode(t)
	for _, k := range accountKinds {
		t.Run(k.chain, func(t *testing.T) {
			e := newEnv(t, api)
			var acc struct {
				Chain, Address, Path string
				Active               bool
			}
			e.okJSON(&acc, "account", "create", "--chain", strings.ToLower(k.chain))
			if acc.Chain != k.chain || acc.Address == "" || !acc.Active {
				t.Fatalf("account create: %+v", acc)
			}
			secret, err := os.ReadFile(acc.Path)
			if err != nil {
				t.Fatal(err)
			}
			other := newEnv(t, api)
			var imported struct{ Chain, Address string }
			other.okJSON(&imported, "account", "import", "--chain", k.chain, "--private-key", strings.TrimSpace(string(secret)))
			if imported.Address != acc.Address || imported.Chain != k.chain {
				t.Fatalf("import of the stored secret: %+v, want %s %s", imported, k.chain, acc.Address)
			}

			var post writeResult
			e.okJSON(&post, "post", "create", "--type", "note", "--content", `{"body":"from `+k.chain+`"}`)
			if post.Status != "processed" || post.Sender != acc.Address {
				t.Fatalf("post: %+v", post)
			}
			var agg writeResult
			e.okJSON(&agg, "aggregate", "create", "profile", `{"chain":"`+k.chain+`"}`)
			if agg.Status != "processed" {
				t.Fatalf("aggregate: %+v", agg)
			}
			var got map[string]any
			e.okJSON(&got, "aggregate", "get", "profile", "--address", acc.Address)
			if got["chain"] != k.chain {
				t.Fatalf("aggregate get: %v", got)
			}
		})
	}
}

func TestAccountKindErrors(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1")
	if msg := e.fails("account", "create", "--chain", "DOGE"); !strings.Contains(msg, kindNames()) {
		t.Errorf("unknown chain: %q does not list the chains", msg)
	}
	for _, k := range accountKinds {
		if msg := e.fails("account", "import", "--chain", k.chain, "--name", "bad", "--private-key", "not-a-key"); !strings.Contains(msg, "bad "+k.chain+" private key") {
			t.Errorf("%s: bad key: %q", k.chain, msg)
		}
	}
	help := e.ok("account", "create", "--help")
	for _, k := range accountKinds {
		if !strings.Contains(help, k.chain) || !strings.Contains(help, k.format) {
			t.Errorf("account create --help does not give %s and its secret format", k.chain)
		}
	}
}
