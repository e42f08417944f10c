package message

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/vectors"
)

func vectorsDir(t testing.TB) string { return vectors.Dir(t) }

type vector struct {
	Message json.RawMessage `json:"message"`
	Derived struct {
		Buffer  string          `json:"verification_buffer"`
		Content json.RawMessage `json:"content"`
	} `json:"derived"`
}

func TestVectorsParse(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(vectorsDir(t), "*-*.json"))
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "negative.json") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v vector
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		m, err := Parse(v.Message)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		if got := string(m.VerificationBuffer()); got != v.Derived.Buffer {
			t.Errorf("%s: buffer %q, want %q", filepath.Base(f), got, v.Derived.Buffer)
		}
		c, err := ParseContent(m, []byte(m.ItemContent))
		if err != nil {
			t.Errorf("%s: content: %v", filepath.Base(f), err)
			continue
		}
		var got, want any
		json.Unmarshal(c.Raw, &got)
		json.Unmarshal(v.Derived.Content, &want)
		if gb, _ := json.Marshal(got); string(gb) != string(mustJSON(want)) {
			t.Errorf("%s: content %s, want %s", filepath.Base(f), gb, mustJSON(want))
		}
		// MarshalJSON round-trips.
		out, _ := json.Marshal(m)
		m2, err := Parse(out)
		if err != nil || *m2 != *m {
			t.Errorf("%s: round trip: %v", filepath.Base(f), err)
		}
		n++
	}
	if n != 8 {
		t.Fatalf("parsed %d vectors, want 8", n)
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

func TestNegativeHashCases(t *testing.T) {
	hashCases := 0
	for _, c := range vectors.Envelopes(t) {
		_, err := Parse(c.Message)
		isHashCase := strings.Contains(c.Name, "item-hash") || strings.Contains(c.Name, "content-changed")
		if isHashCase {
			hashCases++
			if CodeOf(err) != CodeInvalidFormat {
				t.Errorf("%s: got %v, want INVALID_FORMAT", c.Name, err)
			}
		} else if err != nil {
			// Signature cases are refused by chain verification, not here.
			t.Errorf("%s: envelope should parse: %v", c.Name, err)
		}
	}
	if hashCases != 4 {
		t.Fatalf("%d hash cases", hashCases)
	}
}

func TestParseErrors(t *testing.T) {
	valid := map[string]any{
		"chain": "ETH", "sender": "0xabc", "type": "POST", "time": 1.5, "signature": "0x00",
		"item_content": `{"address":"0xabc","time":1,"type":"t"}`,
		"item_hash":    InlineHash(`{"address":"0xabc","time":1,"type":"t"}`),
	}
	with := func(k string, v any) []byte {
		m := map[string]any{}
		for a, b := range valid {
			m[a] = b
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return mustJSON(m)
	}
	storage := strings.Repeat("a", 64)
	cases := []struct {
		name string
		in   []byte
		code Code
	}{
		{"not json", []byte("{"), CodeInvalidFormat},
		{"array", []byte("[]"), CodeInvalidFormat},
		{"unknown chain", with("chain", "XYZ"), CodeInvalidFormat},
		{"unknown type", with("type", "NOPE"), CodeInvalidFormat},
		{"no sender", with("sender", nil), CodeInvalidFormat},
		{"no time", with("time", nil), CodeInvalidFormat},
		{"string time", with("time", "2022-01-01T00:00:00Z"), CodeInvalidFormat},
		{"negative time", with("time", -1), CodeInvalidFormat},
		{"year 10000", with("time", 253402300800.0), CodeInvalidFormat},
		{"hash mismatch", with("item_hash", storage), CodeInvalidFormat},
		{"inline declared storage", with("item_type", "storage"), CodeInvalidFormat},
		{"content not json", mustJSON(map[string]any{"chain": "ETH", "sender": "s", "type": "POST", "time": 1, "signature": "x", "item_content": "{", "item_hash": InlineHash("{")}), CodeInvalidFormat},
		{"storage with bad hash", mustJSON(map[string]any{"chain": "ETH", "sender": "s", "type": "POST", "time": 1, "signature": "x", "item_hash": "xyz"}), CodeInvalidFormat},
		{"storage declared ipfs", mustJSON(map[string]any{"chain": "ETH", "sender": "s", "type": "POST", "time": 1, "signature": "x", "item_hash": storage, "item_type": "ipfs"}), CodeInvalidFormat},
		{"no signature", with("signature", nil), CodeInvalidSignature},
		{"long channel", with("channel", strings.Repeat("c", 129)), CodeInvalidFormat},
	}
	for _, c := range cases {
		_, err := Parse(c.in)
		var me *Error
		if !errors.As(err, &me) || me.Code != c.code {
			t.Errorf("%s: got %v, want code %d", c.name, err, c.code)
		}
	}
	if _, err := Parse(with("unknown_field", 1)); err != nil {
		t.Errorf("unknown envelope fields are ignored: %v", err)
	}
	m, err := Parse(mustJSON(map[string]any{"chain": "ETH", "sender": "s", "type": "POST", "time": 1, "signature": "x", "item_hash": storage}))
	if err != nil || m.ItemType != ItemStorage {
		t.Errorf("item type inferred from hash: %v %v", m, err)
	}
	big := `{"address":"a","time":1,"type":"t","content":"` + strings.Repeat("é", MaxInlineSize) + `"}`
	if _, err := Parse(mustJSON(map[string]any{"chain": "ETH", "sender": "s", "type": "POST", "time": 1, "signature": "x", "item_content": big, "item_hash": InlineHash(big)})); CodeOf(err) != CodeInvalidFormat {
		t.Errorf("content over %d characters: %v", MaxInlineSize, err)
	}
}

func TestItemTypeOf(t *testing.T) {
	cases := map[string]ItemType{
		strings.Repeat("0", 64):                                       ItemStorage,
		"QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH":              ItemIPFS,
		"bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4": ItemIPFS,
		"bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi": ItemIPFS,
		strings.Repeat("A", 64):                                       "",
		"Qm0FMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH":              "", // 0 is not base58
		"":      "",
		"Qmabc": "",
	}
	for h, want := range cases {
		got, err := ItemTypeOf(h)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("%q: got %q %v, want %q", h, got, err, want)
		}
	}
}

func TestParseContent(t *testing.T) {
	inline := func(typ Type, c string) (*Content, error) {
		m := &Message{Type: typ, ItemType: ItemInline, ItemContent: c, Sender: "0xS", Time: 5}
		return ParseContent(m, []byte(c))
	}
	ok := []struct {
		typ Type
		c   string
	}{
		{TypePost, `{"address":"a","time":1,"type":"blog","content":{"x":1}}`},
		{TypePost, `{"address":"a","time":1,"type":"amend","ref":{"item_hash":"h","chain":"ETH"}}`},
		{TypeAggregate, `{"address":"a","time":1,"key":"k","content":{}}`},
		{TypeAggregate, `{"address":"a","time":1,"key":{"name":"k"},"content":{}}`},
		{TypeStore, `{"address":"a","time":1,"item_type":"storage","item_hash":"` + strings.Repeat("a", 64) + `","mime_type":"x"}`},
		{TypeForget, `{"address":"a","time":1,"hashes":["` + strings.Repeat("a", 64) + `"],"reason":"r"}`},
		{TypeForget, `{"address":"a","time":1,"hashes":[],"aggregates":["k"]}`},
	}
	for _, c := range ok {
		if _, err := inline(c.typ, c.c); err != nil {
			t.Errorf("%s %s: %v", c.typ, c.c, err)
		}
	}
	bad := []struct {
		typ Type
		c   string
	}{
		{TypePost, `[]`},
		{TypePost, `{"address":"a","time":1}`},                            // no type
		{TypePost, `{"address":"a","time":1,"type":"t","extra":1}`},       // extra=forbid
		{TypePost, `{"time":1,"type":"t"}`},                               // inline: no coercion
		{TypePost, `{"address":"a","time":"1","type":"t"}`},               // time type
		{TypePost, `{"address":"a","time":9223372037,"type":"t"}`},        // time range
		{TypeAggregate, `{"address":"a","time":1,"key":"k","content":1}`}, // content not object
		{TypeStore, `{"address":"a","time":1,"item_type":"ipfs","item_hash":"` + strings.Repeat("a", 64) + `"}`},
		{TypeStore, `{"address":"a","time":1,"item_type":"storage","item_hash":"` + strings.Repeat("a", 64) + `","payment":{"type":"superfluid"}}`},
		{TypeForget, `{"address":"a","time":1,"hashes":["nope"]}`},
		{TypeProgram, `{"address":"a","time":1,"allow_amend":false}`},
		{TypePost, `{"address":"a","time":1,"type":"t","content":"\u0000"}`},
	}
	for _, c := range bad {
		if _, err := inline(c.typ, c.c); CodeOf(err) != CodeInvalidFormat {
			t.Errorf("%s %s: got %v, want INVALID_FORMAT", c.typ, c.c, err)
		}
	}
	// Non-inline content gets address and time from the envelope.
	m := &Message{Type: TypePost, ItemType: ItemStorage, Sender: "0xS", Time: 5}
	c, err := ParseContent(m, []byte(`{"type":"t"}`))
	if err != nil || c.Address != "0xS" || c.Time != 5 {
		t.Fatalf("coercion: %+v %v", c, err)
	}
}

func TestParseExecutables(t *testing.T) {
	ref := strings.Repeat("b", 64)
	program := `{"address":"a","time":1,"type":"vm-function","allow_amend":false,
		"code":{"encoding":"zip","entrypoint":"main:app","ref":"` + ref + `","use_latest":true},
		"runtime":{"ref":"` + ref + `","use_latest":true,"comment":"py"},
		"on":{"http":true},"resources":{"vcpus":1,"memory":128,"seconds":30},
		"volumes":[{"mount":"/data","ephemeral":true,"size_mib":10},{"mount":"/x","ref":"` + ref + `","use_latest":true}]}`
	m := &Message{Type: TypeProgram, ItemType: ItemInline, Sender: "a"}
	c, err := ParseContent(m, []byte(program))
	if err != nil {
		t.Fatal(err)
	}
	if c.Program.Code.Entrypoint != "main:app" || len(c.Program.Volumes) != 2 || c.Program.PaymentType != "hold" {
		t.Fatalf("program %+v", c.Program)
	}
	tooBig := strings.Replace(program, `"vcpus":1`, `"vcpus":257`, 1)
	if _, err := ParseContent(m, []byte(tooBig)); CodeOf(err) != CodeInvalidFormat {
		t.Fatalf("vcpus over limit: %v", err)
	}
	instance := `{"address":"a","time":1,"allow_amend":false,"rootfs":{"parent":{"ref":"` + ref + `","use_latest":true},"persistence":"host","size_mib":20480},
		"resources":{"vcpus":1,"memory":2048,"seconds":30},"payment":{"type":"credit"}}`
	m.Type = TypeInstance
	c, err = ParseContent(m, []byte(instance))
	if err != nil || c.Instance.RootFS.SizeMiB != 20480 || c.Instance.PaymentType != "credit" {
		t.Fatalf("instance %+v %v", c, err)
	}
}

func TestCodesTable(t *testing.T) {
	seen := map[Code]bool{}
	for i, c := range Codes {
		if seen[c.Code] || c.Name == "" || c.Meaning == "" {
			t.Errorf("entry %d (%d) duplicated or incomplete", i, c.Code)
		}
		if i > 0 && Codes[i-1].Code >= c.Code {
			t.Errorf("table not in numeric order at %d", c.Code)
		}
		seen[c.Code] = true
	}
	if !CodePostAmendTargetNotFound.Retry() || CodeInvalidSignature.Retry() {
		t.Error("retry kinds")
	}
}
