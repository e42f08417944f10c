package message

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func seedVectors(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(vectorsDir(f), "*.json"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		var v struct {
			Message json.RawMessage   `json:"message"`
			Cases   []json.RawMessage `json:"cases"`
		}
		json.Unmarshal(b, &v)
		if len(v.Message) > 0 {
			f.Add([]byte(v.Message))
		}
		for _, c := range v.Cases {
			var cm struct {
				Message json.RawMessage `json:"message"`
			}
			json.Unmarshal(c, &cm)
			f.Add([]byte(cm.Message))
		}
	}
}

// FuzzParse checks that envelope parsing never panics, that whatever it
// accepts satisfies the invariants, and that accepted envelopes round-trip.
func FuzzParse(f *testing.F) {
	seedVectors(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T", err)
			}
			// Errors quote short prefixes, never a whole field.
			if len(err.Error()) > 512 {
				t.Fatalf("error of %d bytes: %.100s", len(err.Error()), err.Error())
			}
			return
		}
		if len(m.Sender) > MaxSenderLength || len(m.Signature) > MaxSignatureLength ||
			len(m.ItemHash) > MaxItemHashLength || len(m.Channel) > MaxChannelLength {
			t.Fatal("accepted a field over its cap")
		}
		if m.ItemType == ItemInline && InlineHash(m.ItemContent) != m.ItemHash {
			t.Fatal("accepted an inline message whose hash does not match")
		}
		if !m.Type.Valid() || !KnownChain(m.Chain) || m.Signature == "" {
			t.Fatal("accepted an invalid envelope")
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Parse(out)
		if err != nil || *m2 != *m {
			t.Fatalf("round trip: %v", err)
		}
		// Content parsing must not panic either.
		if m.ItemType == ItemInline {
			ParseContent(m, []byte(m.ItemContent))
		}
	})
}

// FuzzParseContent feeds arbitrary content to every type's parser.
func FuzzParseContent(f *testing.F) {
	f.Add(uint8(0), []byte(`{"address":"a","time":1,"type":"blog","content":{"x":1},"ref":"r"}`))
	f.Add(uint8(1), []byte(`{"address":"a","time":1,"key":"k","content":{"a":1}}`))
	f.Add(uint8(2), []byte(`{"address":"a","time":1,"item_type":"storage","item_hash":"0000000000000000000000000000000000000000000000000000000000000000"}`))
	f.Add(uint8(5), []byte(`{"address":"a","time":1,"hashes":["0000000000000000000000000000000000000000000000000000000000000000"]}`))
	f.Add(uint8(3), []byte(`{"address":"a","time":1,"type":"vm-function","allow_amend":false,"code":{"encoding":"zip","entrypoint":"e","ref":"0000000000000000000000000000000000000000000000000000000000000000"},"runtime":{"ref":"0000000000000000000000000000000000000000000000000000000000000000"},"on":{"http":true},"resources":{"vcpus":1,"memory":1,"seconds":1}}`))
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		m := &Message{Type: Types[int(typ)%len(Types)], ItemType: ItemStorage, Sender: "s", Time: 1}
		c, err := ParseContent(m, data)
		if err != nil {
			if CodeOf(err) != CodeInvalidFormat {
				t.Fatalf("content error with code %d", CodeOf(err))
			}
			return
		}
		if c.Address == "" || !json.Valid(c.Raw) {
			t.Fatal("accepted content without address or with invalid JSON")
		}
	})
}
