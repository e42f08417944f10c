package message

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// envelopeWith returns a valid unsigned-shape inline envelope with the
// given fields replaced (a nil value removes the field).
func envelopeWith(t *testing.T, set map[string]any) []byte {
	t.Helper()
	content := `{"address":"0x0000000000000000000000000000000000000001","time":1700000000,"type":"test","content":{}}`
	env := map[string]any{
		"chain": "ETH", "sender": "0x0000000000000000000000000000000000000001", "type": "POST",
		"channel": "TEST", "item_type": "inline", "item_content": content, "item_hash": InlineHash(content),
		"time": 1700000000.5, "signature": "0x" + strings.Repeat("0", 130),
	}
	for k, v := range set {
		if v == nil {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEnvelopeCaps checks every field cap at its limit and one past it,
// and that the error quotes no more than a short prefix of the value.
func TestEnvelopeCaps(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []struct {
		name  string
		set   map[string]any
		ok    bool
		error string
	}{
		{"sender at cap", map[string]any{"sender": long(MaxSenderLength)}, true, ""},
		{"sender over cap", map[string]any{"sender": long(MaxSenderLength + 1)}, false, "sender longer than 256 bytes"},
		{"sender 900,000", map[string]any{"sender": long(900000)}, false, "sender longer than 256 bytes"},
		{"signature at cap", map[string]any{"signature": long(MaxSignatureLength)}, true, ""},
		{"signature over cap", map[string]any{"signature": long(MaxSignatureLength + 1)}, false, "signature longer than 4096 bytes"},
		{"channel at cap", map[string]any{"channel": long(MaxChannelLength)}, true, ""},
		{"channel over cap", map[string]any{"channel": long(MaxChannelLength + 1)}, false, "channel longer than 128 characters"},
		{"item_hash over cap", map[string]any{"item_hash": long(MaxItemHashLength + 1)}, false, "item_hash longer than 128 bytes"},
		{"item_hash of unknown shape", map[string]any{"item_content": nil, "item_type": nil, "item_hash": long(MaxItemHashLength)}, false, "has an unknown shape"},
		{"unknown chain", map[string]any{"chain": long(500000)}, false, "unknown chain"},
		{"unknown chain multibyte", map[string]any{"chain": strings.Repeat("漢", 1000)}, false, "unknown chain"},
		{"unknown type", map[string]any{"type": long(500000)}, false, "unknown message type"},
		{"bad item_type", map[string]any{"item_content": nil, "item_hash": strings.Repeat("a", 64), "item_type": long(100000)}, false, "does not match the shape"},
		{"item_content over cap", map[string]any{"item_content": long(MaxInlineSize + 1)}, false, "Message too long"},
	}
	for _, c := range cases {
		_, err := Parse(envelopeWith(t, c.set))
		if c.ok {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		msg := err.Error()
		if CodeOf(err) != CodeInvalidFormat || !strings.Contains(msg, c.error) {
			t.Errorf("%s: %v (code %d), want %q", c.name, err, CodeOf(err), c.error)
		}
		if len(msg) > 300 || !utf8.ValidString(msg) {
			t.Errorf("%s: error of %d bytes (valid UTF-8 %v): %.100s", c.name, len(msg), utf8.ValidString(msg), msg)
		}
	}
}

// TestQuote checks the prefix form of quoted values.
func TestQuote(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"ETH", "ETH"},
		{strings.Repeat("a", MaxQuoted), strings.Repeat("a", MaxQuoted)},
		{strings.Repeat("a", MaxQuoted+1), strings.Repeat("a", MaxQuoted) + "…"},
		// 21 three-byte runes are 63 bytes: the 22nd would cross the cut.
		{strings.Repeat("漢", 30), strings.Repeat("漢", 21) + "…"},
	}
	for _, c := range cases {
		if got := Quote(c.in); got != c.want {
			t.Errorf("Quote(%.20q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestEnvelopeStrictness records how the parser treats the envelope
// details of issue 13 row 8, which follow the reference (see
// docs/design/0008-hostile-input.md).
func TestEnvelopeStrictness(t *testing.T) {
	base := string(envelopeWith(t, nil))
	cases := []struct {
		name string
		raw  string
		ok   bool
		// check runs on an accepted message.
		check func(*Message) bool
	}{
		// The reference's time is a lax pydantic float: a numeric string
		// is coerced, anything else refused.
		{"time as numeric string", string(envelopeWith(t, map[string]any{"time": "123"})), true,
			func(m *Message) bool { return m.Time == 123 }},
		{"time as other string", string(envelopeWith(t, map[string]any{"time": "soon"})), false, nil},
		{"time as bool", strings.Replace(base, `"time":1700000000.5`, `"time":true`, 1), false, nil},
		{"time negative", string(envelopeWith(t, map[string]any{"time": -1})), false, nil},
		{"time missing", string(envelopeWith(t, map[string]any{"time": nil})), false, nil},
		// Duplicate keys: the last one wins, as with Python's json.loads.
		{"duplicate sender", strings.Replace(base, `"sender":`, `"sender":"first","sender":`, 1), true,
			func(m *Message) bool { return m.Sender == "0x0000000000000000000000000000000000000001" }},
		// A lone surrogate escape decodes to U+FFFD: the stored sender is
		// valid UTF-8 (the reference cannot store it at all).
		{"lone surrogate in sender", strings.Replace(base, `"sender":"0x`, `"sender":"\ud800x`, 1), true,
			func(m *Message) bool { return utf8.ValidString(m.Sender) && strings.HasPrefix(m.Sender, "\uFFFD") }},
		{"sender as number", strings.Replace(base, `"sender":"0x0000000000000000000000000000000000000001"`, `"sender":5`, 1), false, nil},
		{"not an object", `[1]`, false, nil},
		{"trailing data", base + `{}`, false, nil},
	}
	for _, c := range cases {
		m, err := Parse([]byte(c.raw))
		if c.ok != (err == nil) {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
			continue
		}
		if err != nil && CodeOf(err) != CodeInvalidFormat {
			t.Errorf("%s: code %d", c.name, CodeOf(err))
		}
		if m != nil && c.check != nil && !c.check(m) {
			t.Errorf("%s: parsed %+v", c.name, m)
		}
	}
}
