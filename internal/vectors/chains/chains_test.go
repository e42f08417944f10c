// Package chains_test checks the signed examples of the reference's chain
// tests (copied into the JSON files beside this one, each naming its source)
// against the node's verifiers: each verifies, and a tampered copy of each is
// refused with chain.ErrInvalidSignature (code 1).
package chains_test

import (
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/goaleph/goaleph/chain"
	_ "github.com/goaleph/goaleph/chain/csdk"
	_ "github.com/goaleph/goaleph/chain/dot"
	_ "github.com/goaleph/goaleph/chain/tezos"
)

type vector struct {
	Name      string            `json:"name"`
	Source    map[string]string `json:"source"`
	Chain     string            `json:"chain"`
	Sender    string            `json:"sender"`
	Type      string            `json:"type"`
	Time      float64           `json:"time"`
	ItemHash  string            `json:"item_hash"`
	Signature string            `json:"signature"`
	// Skip, when set, says why the reference itself does not verify it.
	Skip string `json:"skip"`
}

func load(t *testing.T, file string) []vector {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(f.Vectors) == 0 {
		t.Fatalf("%s: no vectors", file)
	}
	for _, v := range f.Vectors {
		if v.Source["repository"] == "" || v.Source["path"] == "" {
			t.Fatalf("%s: vector %q does not name its source", file, v.Name)
		}
	}
	return f.Vectors
}

// flip returns s with the byte at i changed to another character of the
// same class, so the tampered copy stays well-formed where it can.
func flip(s string, i int) string {
	b := []byte(s)
	switch c := b[i]; {
	case c == '0':
		b[i] = '1'
	case c >= '1' && c <= '9', c >= 'b' && c <= 'z', c >= 'B' && c <= 'Z':
		b[i] = c - 1
	default:
		b[i] = c + 1
	}
	return string(b)
}

func TestVectors(t *testing.T) {
	for _, file := range []string{"tezos.json", "dot.json", "csdk.json"} {
		for _, v := range load(t, file) {
			t.Run(v.Chain+"/"+v.Name, func(t *testing.T) {
				verify := func(sender, hash, sig string) error {
					return chain.VerifyMessage(v.Chain, sender, chain.Buffer(v.Chain, sender, v.Type, hash), sig, v.Time)
				}
				if v.Skip != "" {
					if err := verify(v.Sender, v.ItemHash, v.Signature); !errors.Is(err, chain.ErrInvalidSignature) {
						t.Fatalf("reference refuses it (%s), got %v", v.Skip, err)
					}
					return
				}
				if err := verify(v.Sender, v.ItemHash, v.Signature); err != nil {
					t.Fatalf("vector does not verify: %v", err)
				}
				tampered := map[string]error{
					"item_hash": verify(v.Sender, flip(v.ItemHash, 5), v.Signature),
					"type": chain.VerifyMessage(v.Chain, v.Sender,
						chain.Buffer(v.Chain, v.Sender, "STORE", v.ItemHash), v.Signature, v.Time),
				}
				if v.Time != 0 {
					tampered["time"] = chain.VerifyMessage(v.Chain, v.Sender, chain.Buffer(v.Chain, v.Sender, v.Type, v.ItemHash), v.Signature, v.Time+1)
				}
				for what, err := range tampered {
					if what == "time" && v.Chain != "TEZOS" {
						continue // only Tezos's Micheline form signs the time
					}
					if what == "time" && !michelineForm(v.Signature) {
						if err != nil {
							t.Errorf("raw form depends on the time: %v", err)
						}
						continue
					}
					if !errors.Is(err, chain.ErrInvalidSignature) {
						t.Errorf("tampered %s: got %v, want ErrInvalidSignature", what, err)
					}
				}
			})
		}
	}
}

func michelineForm(sig string) bool {
	var f map[string]any
	_ = json.Unmarshal([]byte(sig), &f)
	return f["signingType"] == "micheline"
}
