package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
)

// Cursors (spec §9) are base64url without padding of compact JSON with
// sorted keys, as the reference node writes them with Python's json.dumps:
// {"h": item_hash, "t": ISO time} for messages and posts, {"k": key,
// "o": owner, "t": ISO time} for aggregates. The time is written as Python's
// datetime.isoformat() does (microseconds, "+00:00"), with more digits only
// when microseconds would not give back the exact float, so that the next
// page starts exactly after the last row.

// EncodeTimeCursor is the cursor of a message or post list after the row
// with this time and hash.
func EncodeTimeCursor(t float64, hash string) string {
	return encodeCursor([][2]string{{"h", hash}, {"t", isoTime(t)}})
}

// EncodeAggregateCursor is the cursor of an aggregate list after the row
// with this time, key and owner.
func EncodeAggregateCursor(t float64, key, owner string) string {
	return encodeCursor([][2]string{{"k", key}, {"o", owner}, {"t", isoTime(t)}})
}

// EncodeAddressCursor is the cursor of an address list (credit balances)
// after this address: {"a": address}.
func EncodeAddressCursor(address string) string {
	return encodeCursor([][2]string{{"a", address}})
}

// DecodeAddressCursor reads an EncodeAddressCursor cursor.
func DecodeAddressCursor(cursor string) (string, error) {
	m, err := decodeCursor(cursor)
	if err != nil {
		return "", err
	}
	return cursorString(m, "a")
}

// encodeCursor writes fields, already in key order, as Python's
// json.dumps(separators=(",", ":"), sort_keys=True) would.
func encodeCursor(fields [][2]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		PyQuote(&b, f[0])
		b.WriteByte(':')
		PyQuote(&b, f[1])
	}
	b.WriteByte('}')
	return base64.RawURLEncoding.EncodeToString([]byte(b.String()))
}

// PyQuote writes s as a JSON string as Python's json.dumps does by default
// (ensure_ascii): every character outside printable ASCII (' ' to '~') is
// a \u escape, UTF-16 pairs beyond the BMP. Hashes that the reference
// computes over json.dumps output need these exact bytes.
func PyQuote(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			fmt.Fprintf(b, `\u%04x`, r)
		case r >= 0x10000:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

// isoTime formats an epoch time like Python's
// datetime.fromtimestamp(t, timezone.utc).isoformat(), keeping every digit
// the float needs.
func isoTime(t float64) string {
	s := strconv.FormatFloat(t, 'f', -1, 64)
	secs, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || t < 0 {
		sec, frac = int64(math.Floor(t)), ""
	}
	if len(frac) > 0 && len(frac) < 6 {
		frac += strings.Repeat("0", 6-len(frac))
	}
	out := time.Unix(sec, 0).UTC().Format("2006-01-02T15:04:05")
	if frac != "" {
		out += "." + frac
	}
	return out + "+00:00"
}

// parseISOTime reads back an ISO time (any offset, or none for UTC) as an
// exact epoch float.
func parseISOTime(s string) (float64, error) {
	// Split the fraction off so that no digit is lost to time.Time.
	frac := ""
	rest := s
	if i := strings.IndexByte(s, '.'); i >= 0 {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		frac, rest = s[i+1:j], s[:i]+s[j:]
		if frac == "" {
			return 0, fmt.Errorf("bad time %q", s)
		}
	}
	var tm time.Time
	var err error
	for _, layout := range []string{"2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05"} {
		if tm, err = time.Parse(layout, rest); err == nil {
			break
		}
	}
	if err != nil {
		return 0, err
	}
	if frac == "" {
		return float64(tm.Unix()), nil
	}
	return strconv.ParseFloat(strconv.FormatInt(tm.Unix(), 10)+"."+frac, 64)
}

// decodeCursor decodes the JSON object of a cursor.
func decodeCursor(cursor string) (map[string]any, error) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(cursor, "="))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCursor, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, fmt.Errorf("%w: payload is not a JSON object", ErrBadCursor)
	}
	return m, nil
}

func cursorString(m map[string]any, k string) (string, error) {
	v, ok := m[k].(string)
	if !ok {
		return "", fmt.Errorf("%w: missing field %q", ErrBadCursor, k)
	}
	return v, nil
}

func cursorTime(m map[string]any) (float64, error) {
	ts, err := cursorString(m, "t")
	if err != nil {
		return 0, err
	}
	t, err := parseISOTime(ts)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadCursor, err)
	}
	return t, nil
}

func DecodeTimeCursor(cursor string) (t float64, hash string, err error) {
	m, err := decodeCursor(cursor)
	if err != nil {
		return 0, "", err
	}
	if t, err = cursorTime(m); err != nil {
		return 0, "", err
	}
	hash, err = cursorString(m, "h")
	return t, hash, err
}

func DecodeAggregateCursor(cursor string) (t float64, key, owner string, err error) {
	m, err := decodeCursor(cursor)
	if err != nil {
		return 0, "", "", err
	}
	if t, err = cursorTime(m); err != nil {
		return 0, "", "", err
	}
	if key, err = cursorString(m, "k"); err != nil {
		return 0, "", "", err
	}
	owner, err = cursorString(m, "o")
	return t, key, owner, err
}
