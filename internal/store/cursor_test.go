package store

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestCursorFormat(t *testing.T) {
	for _, c := range []struct {
		t    float64
		want string
	}{
		{1665758931.005458, "2022-10-14T14:48:51.005458+00:00"},
		{1665758931, "2022-10-14T14:48:51+00:00"},
		{1665758931.5, "2022-10-14T14:48:51.500000+00:00"},
		{1665758931.0054002, "2022-10-14T14:48:51.0054002+00:00"},
	} {
		if got := isoTime(c.t); got != c.want {
			t.Errorf("isoTime(%v) = %s, want %s", c.t, got, c.want)
		}
		back, err := parseISOTime(c.want)
		if err != nil || back != c.t {
			t.Errorf("parseISOTime(%s) = %v, %v; want %v", c.want, back, err, c.t)
		}
	}
	cur := EncodeTimeCursor(1665758931.005458, "abc")
	raw, err := base64.RawURLEncoding.DecodeString(cur)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"h":"abc","t":"2022-10-14T14:48:51.005458+00:00"}`; string(raw) != want {
		t.Errorf("cursor payload %s, want %s", raw, want)
	}
	if strings.ContainsAny(cur, "=+/") {
		t.Errorf("cursor %q is not unpadded base64url", cur)
	}
	ag := EncodeAggregateCursor(1, "kéy", "o")
	raw, _ = base64.RawURLEncoding.DecodeString(ag)
	if want := `{"k":"k\u00e9y","o":"o","t":"1970-01-01T00:00:01+00:00"}`; string(raw) != want {
		t.Errorf("aggregate cursor payload %s, want %s", raw, want)
	}
	if tt, k, o, err := DecodeAggregateCursor(ag); err != nil || tt != 1 || k != "kéy" || o != "o" {
		t.Errorf("decodeAggregateCursor = %v %q %q %v", tt, k, o, err)
	}
	for _, bad := range []string{"!!", base64.RawURLEncoding.EncodeToString([]byte(`[1]`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"h":"x"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"h":"x","t":"yesterday"}`))} {
		if _, _, err := DecodeTimeCursor(bad); err == nil {
			t.Errorf("DecodeTimeCursor(%q) succeeded", bad)
		}
	}
}

// TestAddressCursor: the reference's address cursor, {"a": address}, both
// ways; a cursor without the field is ErrBadCursor.
func TestAddressCursor(t *testing.T) {
	cur := EncodeAddressCursor("0xAb")
	// base64url of {"a":"0xAb"} without padding, as the reference writes it.
	if want := base64.RawURLEncoding.EncodeToString([]byte(`{"a":"0xAb"}`)); cur != want {
		t.Fatalf("EncodeAddressCursor = %s, want %s", cur, want)
	}
	if a, err := DecodeAddressCursor(cur + "=="); err != nil || a != "0xAb" {
		t.Fatalf("DecodeAddressCursor = %q, %v", a, err)
	}
	for _, bad := range []string{"", "!!", base64.RawURLEncoding.EncodeToString([]byte(`{"h":"x"}`)), base64.RawURLEncoding.EncodeToString([]byte(`[1]`))} {
		if _, err := DecodeAddressCursor(bad); !errors.Is(err, ErrBadCursor) {
			t.Errorf("DecodeAddressCursor(%q) = %v, want ErrBadCursor", bad, err)
		}
	}
}
