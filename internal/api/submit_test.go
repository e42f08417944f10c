package api

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestPercentDecode checks the pubsub payload decoding: %XX escapes only,
// "+" and malformed escapes left alone (the reference's unquote).
func TestPercentDecode(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"C++ 1+1=2", "C++ 1+1=2"},
		{"a%20b", "a b"},
		{"%2B%2b", "++"},
		{"100%", "100%"},
		{"50%z", "50%z"},
		{"%zz%41", "%zzA"},
		{"%4", "%4"},
		{"a&b=c", "a&b=c"},
		{"%C3%A9%E6%BC%A2", "é漢"},
		{"é 漢字", "é 漢字"},
		{"%ff", "\uFFFD"},
	}
	for _, c := range cases {
		if got := percentDecode(c.in); got != c.want {
			t.Errorf("percentDecode(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzPercentDecode checks that decoding never panics, yields valid
// UTF-8, undoes url.PathEscape, and leaves strings without "%" alone.
func FuzzPercentDecode(f *testing.F) {
	for _, s := range []string{"", "C++", "%2B", "100%", "%zz%41", "%C3%A9", "%ff", "{\"a\":\"b+c\"}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := percentDecode(s)
		if !utf8.ValidString(got) {
			t.Fatalf("percentDecode(%q) = %q: not UTF-8", s, got)
		}
		if !strings.Contains(s, "%") && utf8.ValidString(s) && got != s {
			t.Fatalf("percentDecode(%q) = %q: changed a string without escapes", s, got)
		}
		if utf8.ValidString(s) {
			if back := percentDecode(url.PathEscape(s)); back != s {
				t.Fatalf("percentDecode(PathEscape(%q)) = %q", s, back)
			}
		}
	})
}
