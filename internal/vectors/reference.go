package vectors

import (
	"embed"
	"encoding/json"
	"strings"
	"testing"
)

// referenceFiles holds signed messages copied from the reference
// implementations' own test suites, one file per chain
// (reference/<chain in lower case>.json); each vector names its source.
//
//go:embed reference/*.json
var referenceFiles embed.FS

// Reference is one signed message copied from a reference test suite.
type Reference struct {
	Name    string  `json:"name"`
	Source  string  `json:"source"` // repository and test file it was copied from
	Message Message `json:"message"`
}

// References returns the reference vectors of chain (e.g. "NULS2"). It
// fails the test if the chain has none.
func References(t testing.TB, chain string) []Reference {
	t.Helper()
	b, err := referenceFiles.ReadFile("reference/" + strings.ToLower(chain) + ".json")
	if err != nil {
		t.Fatalf("vectors: no reference vectors for %s: %v", chain, err)
	}
	var f struct {
		Chain   string      `json:"chain"`
		Vectors []Reference `json:"vectors"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("vectors: reference/%s.json: %v", strings.ToLower(chain), err)
	}
	if f.Chain != chain || len(f.Vectors) == 0 {
		t.Fatalf("vectors: reference/%s.json holds chain %q with %d vectors", strings.ToLower(chain), f.Chain, len(f.Vectors))
	}
	return f.Vectors
}
