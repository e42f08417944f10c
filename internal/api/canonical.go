package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
)

// maxJSONDepth is the deepest nesting canonicalJSON accepts, as
// encoding/json's decoder.
const maxJSONDepth = 10000

// canonicalJSON re-serialises one JSON document read from r compactly with
// sorted object keys (the last of duplicate keys wins), numbers kept as
// written, strings re-escaped as encoding/json does without HTML escaping.
// It works token by token: no tree of Go values is built, so memory stays
// a small multiple of the output. sizeHint, the expected length of the
// input (0 if unknown), sizes the output buffer once instead of doubling it.
func canonicalJSON(r io.Reader, sizeHint int64) ([]byte, error) {
	c := &canonicaliser{dec: json.NewDecoder(r)}
	c.dec.UseNumber()
	c.enc = json.NewEncoder(&c.sbuf)
	c.enc.SetEscapeHTML(false)
	var out bytes.Buffer
	if sizeHint > 0 {
		out.Grow(int(sizeHint))
	}
	tok, err := c.dec.Token()
	if err != nil {
		return nil, err
	}
	if err := c.value(&out, tok, 0); err != nil {
		return nil, err
	}
	if c.dec.More() {
		return nil, errors.New("trailing data")
	}
	return out.Bytes(), nil
}

type canonicaliser struct {
	dec  *json.Decoder
	enc  *json.Encoder
	sbuf bytes.Buffer
}

// member is an encoded object member: its key and where its value lies in
// the object's buffer.
type member struct {
	key        string
	start, end int
}

// value writes the canonical form of the value starting with tok.
func (c *canonicaliser) value(out *bytes.Buffer, tok json.Token, depth int) error {
	switch t := tok.(type) {
	case json.Delim:
		if depth >= maxJSONDepth {
			return errors.New("exceeded max depth")
		}
		if t == '[' {
			return c.array(out, depth+1)
		}
		if t == '{' {
			return c.object(out, depth+1)
		}
		return errors.New("unexpected delimiter")
	case string:
		return c.str(out, t)
	case json.Number:
		out.WriteString(string(t))
	case bool:
		if t {
			out.WriteString("true")
		} else {
			out.WriteString("false")
		}
	case nil:
		out.WriteString("null")
	default:
		return errors.New("unexpected token")
	}
	return nil
}

func (c *canonicaliser) array(out *bytes.Buffer, depth int) error {
	out.WriteByte('[')
	for first := true; ; first = false {
		tok, err := c.dec.Token()
		if err != nil {
			return err
		}
		if tok == json.Delim(']') {
			out.WriteByte(']')
			return nil
		}
		if !first {
			out.WriteByte(',')
		}
		if err := c.value(out, tok, depth); err != nil {
			return err
		}
	}
}

// object encodes the members' values into a buffer of its own, then
// writes them in key order; a repeated key replaces the earlier member.
func (c *canonicaliser) object(out *bytes.Buffer, depth int) error {
	var (
		vals    bytes.Buffer
		members []member
		index   map[string]int
	)
	for {
		tok, err := c.dec.Token()
		if err != nil {
			return err
		}
		if tok == json.Delim('}') {
			break
		}
		key, ok := tok.(string)
		if !ok {
			return errors.New("object key is not a string")
		}
		vtok, err := c.dec.Token()
		if err != nil {
			return err
		}
		start := vals.Len()
		if err := c.value(&vals, vtok, depth); err != nil {
			return err
		}
		m := member{key: key, start: start, end: vals.Len()}
		// A map finds repeated keys once the object is no longer small.
		if index == nil && len(members) >= 8 {
			index = make(map[string]int, len(members))
			for i, m := range members {
				index[m.key] = i
			}
		}
		if index != nil {
			if i, dup := index[key]; dup {
				members[i] = m
				continue
			}
			index[key] = len(members)
		} else if i := slices.IndexFunc(members, func(m member) bool { return m.key == key }); i >= 0 {
			members[i] = m
			continue
		}
		members = append(members, m)
	}
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })
	out.WriteByte('{')
	b := vals.Bytes()
	for i, m := range members {
		if i > 0 {
			out.WriteByte(',')
		}
		if err := c.str(out, m.key); err != nil {
			return err
		}
		out.WriteByte(':')
		out.Write(b[m.start:m.end])
	}
	out.WriteByte('}')
	return nil
}

// str writes s quoted as encoding/json does with HTML escaping off.
func (c *canonicaliser) str(out *bytes.Buffer, s string) error {
	c.sbuf.Reset()
	if err := c.enc.Encode(s); err != nil {
		return err
	}
	out.Write(bytes.TrimSuffix(c.sbuf.Bytes(), []byte("\n")))
	return nil
}
