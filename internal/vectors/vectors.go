// Package vectors loads the shared signed-message test vectors
// (shared/vectors, beside the repository) for the module's tests.
//
// The vectors were produced by the official Aleph TypeScript SDK; see
// shared/vectors/README.md. A test that cannot find them fails rather than
// skips, so CI never silently stops checking compatibility.
package vectors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// Message is the part of a message envelope the chain packages look at.
type Message struct {
	Chain       string `json:"chain"`
	Sender      string `json:"sender"`
	Type        string `json:"type"`
	ItemHash    string `json:"item_hash"`
	ItemType    string `json:"item_type"`
	ItemContent string `json:"item_content"`
	Signature   string `json:"signature"`
}

// Account is the test-only key a vector was signed with.
type Account struct {
	Address         string `json:"address"`
	PrivateKeyHex   string `json:"private_key_hex"`   // ETH
	PublicKeyHex    string `json:"public_key_hex"`    // ETH: uncompressed 0x04…; SOL: 32 bytes
	SecretKeyBase58 string `json:"secret_key_base58"` // SOL: 64-byte secret key
	SecretKeyHex    string `json:"secret_key_hex"`    // SOL: 64-byte secret key
}

// Derived holds the values the generator derived from the message.
type Derived struct {
	ItemContentSHA256     string `json:"item_content_sha256"`
	VerificationBuffer    string `json:"verification_buffer"`
	VerificationBufferHex string `json:"verification_buffer_hex"`
	EIP191Digest          string `json:"eip191_digest"`       // ETH
	SignatureBytesHex     string `json:"signature_bytes_hex"` // SOL: raw 64-byte signature
	PublicKeyHex          string `json:"public_key_hex"`      // SOL
	SignatureParts        *struct {
		R string `json:"r"`
		S string `json:"s"`
		V int    `json:"v"`
	} `json:"signature_parts"` // ETH
}

// Vector is one signed-message vector file ({eth,sol}-{post,aggregate,store,forget}.json).
type Vector struct {
	Name    string  `json:"-"` // file name without directory, e.g. "eth-post.json"
	Account Account `json:"account"`
	Message Message `json:"message"`
	Derived Derived `json:"derived"`
	Expect  string  `json:"expect"`
}

// Negative is one tampered message of negative.json.
type Negative struct {
	Name    string  `json:"name"`
	Why     string  `json:"why"`
	Message Message `json:"message"`
	Expect  string  `json:"expect"`
}

// Dir returns the shared/vectors directory. It walks up from the working
// directory and, at each level, looks for <dir>/shared/vectors and
// <dir>/../shared/vectors (shared/ sits beside the repository clone). It
// fails the test if neither is ever found.
func Dir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("vectors: working directory: %v", err)
	}
	for dir := wd; ; {
		for _, c := range []string{
			filepath.Join(dir, "shared", "vectors"),
			filepath.Join(dir, "..", "shared", "vectors"),
		} {
			if fi, err := os.Stat(filepath.Join(c, "negative.json")); err == nil && fi.Mode().IsRegular() {
				return filepath.Clean(c)
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	t.Fatalf("vectors: no shared/vectors directory found above %s (expected shared/ beside the repository)", wd)
	return ""
}

// Load returns the vectors whose file names match pattern (a filepath.Match
// pattern such as "eth-*.json"), sorted by name. It fails the test if none
// match or a file does not parse.
func Load(t testing.TB, pattern string) []Vector {
	t.Helper()
	dir := Dir(t)
	paths, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatalf("vectors: bad pattern %q: %v", pattern, err)
	}
	sort.Strings(paths)
	var out []Vector
	for _, p := range paths {
		var v Vector
		readJSON(t, p, &v)
		v.Name = filepath.Base(p)
		if v.Message.Signature == "" || v.Message.Sender == "" {
			t.Fatalf("vectors: %s has no message signature or sender", p)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		t.Fatalf("vectors: no file matches %q in %s", pattern, dir)
	}
	return out
}

// Negatives returns the cases of negative.json whose message chain is chain
// (all cases if chain is empty). It fails the test if there are none.
func Negatives(t testing.TB, chain string) []Negative {
	t.Helper()
	var f struct {
		Cases []Negative `json:"cases"`
	}
	readJSON(t, filepath.Join(Dir(t), "negative.json"), &f)
	var out []Negative
	for _, c := range f.Cases {
		if chain == "" || c.Message.Chain == chain {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		t.Fatalf("vectors: negative.json has no case for chain %q", chain)
	}
	return out
}

// Envelope is a negative.json case with its message as raw JSON, for the
// tests that parse or post the envelope themselves.
type Envelope struct {
	Name    string          `json:"name"`
	Message json.RawMessage `json:"message"`
}

// Envelopes returns every case of negative.json, with its message as raw
// JSON. It fails the test if there are none.
func Envelopes(t testing.TB) []Envelope {
	t.Helper()
	var f struct {
		Cases []Envelope `json:"cases"`
	}
	readJSON(t, filepath.Join(Dir(t), "negative.json"), &f)
	if len(f.Cases) == 0 {
		t.Fatal("vectors: negative.json has no case")
	}
	return f.Cases
}

// Request is an HTTP request captured from the official SDK.
type Request struct {
	Path string          `json:"path"`
	Body json.RawMessage `json:"body"`
	// Multipart parts (add_file).
	Parts []struct {
		Name        string `json:"name"`
		Value       string `json:"value"`
		Filename    string `json:"filename"`
		ContentType string `json:"content_type"`
		Base64      string `json:"base64"`
	} `json:"parts"`
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("vectors: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("vectors: %s: %v", path, err)
	}
}
