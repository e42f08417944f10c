package api

import (
	"bytes"
	"errors"
	"io"
	"math"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth is the deepest nesting canonicalJSON accepts, as
// encoding/json's decoder.
const maxJSONDepth = 10000

// chunkSize is the size of the output's chunks.
const chunkSize = 64 << 10

var errSyntax = errors.New("invalid JSON")

// canonicalJSON re-serialises one JSON document read from r compactly with
// sorted object keys (the last of duplicate keys wins), numbers kept as
// written, strings re-escaped as encoding/json does without HTML escaping:
// byte for byte what decoding into Go values and encoding them again gives,
// and accepting the same documents.
//
// It scans the bytes itself and allocates nothing per value: with the
// node's GOGC of 400, the garbage of encoding/json's tokens (about 40
// bytes a token) let the heap reach ten times the body before a GC. The
// output is kept in fixed chunks (no copy when it grows); an object is
// written as its members come, and only one whose keys come out of order
// is rearranged at its end, through a scratch copy of its bytes. So the
// memory is the output, the decoded keys of the open objects and 16 bytes
// a member (they are dropped when the object ends), plus the scratch copy
// of the largest unsorted object.
func canonicalJSON(r io.Reader) (*chunks, error) {
	c := &canonicaliser{src: r, buf: make([]byte, 32<<10), out: &chunks{}}
	c.skipSpace()
	if _, ok := c.peek(); !ok {
		return nil, c.eofErr()
	}
	if err := c.value(0); err != nil {
		return nil, err
	}
	c.skipSpace()
	// As encoding/json's Decoder.More: a closing bracket after the value
	// ends the stream as the end of the input does.
	if b, ok := c.peek(); ok && b != ']' && b != '}' {
		return nil, errors.New("trailing data")
	}
	if c.err != nil && c.err != io.EOF {
		return nil, c.err
	}
	return c.out, nil
}

type canonicaliser struct {
	src  io.Reader
	buf  []byte
	r, w int   // unread input is buf[r:w]
	err  error // the first read error (io.EOF at the end)

	out     *chunks
	keys    []byte   // decoded keys of the open objects' members
	members []member // members of the open objects, innermost last
	scratch chunks   // copy of an object being rearranged
}

// member is an object member: its decoded key in keys, and where its
// encoded form (key, colon, value) lies in the output.
type member struct {
	keyStart, keyEnd uint32
	start, end       uint32
}

// fill reads more input, keeping the unread bytes.
func (c *canonicaliser) fill() bool {
	if c.err != nil {
		return false
	}
	if c.r > 0 {
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	for c.w < len(c.buf) {
		n, err := c.src.Read(c.buf[c.w:])
		c.w += n
		if err != nil {
			c.err = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	return true
}

// ensure makes at least k bytes readable unless the input ends first.
func (c *canonicaliser) ensure(k int) {
	for c.w-c.r < k && c.fill() {
	}
}

func (c *canonicaliser) peek() (byte, bool) {
	if c.r == c.w && !c.fill() {
		return 0, false
	}
	return c.buf[c.r], true
}

// eofErr is the error for input that ended (or failed) inside a value.
func (c *canonicaliser) eofErr() error {
	if c.err == nil || c.err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return c.err
}

func (c *canonicaliser) next() (byte, error) {
	b, ok := c.peek()
	if !ok {
		return 0, c.eofErr()
	}
	c.r++
	return b, nil
}

func (c *canonicaliser) skipSpace() {
	for {
		b, ok := c.peek()
		if !ok || (b != ' ' && b != '\t' && b != '\n' && b != '\r') {
			return
		}
		c.r++
	}
}

// expect consumes the next byte, which must be want.
func (c *canonicaliser) expect(want byte) error {
	b, err := c.next()
	if err != nil {
		return err
	}
	if b != want {
		return errSyntax
	}
	return nil
}

func (c *canonicaliser) value(depth int) error {
	c.skipSpace()
	b, ok := c.peek()
	if !ok {
		return c.eofErr()
	}
	switch {
	case b == '{' || b == '[':
		if depth >= maxJSONDepth {
			return errors.New("exceeded max depth")
		}
		c.r++
		if b == '[' {
			return c.array(depth + 1)
		}
		return c.object(depth + 1)
	case b == '"':
		c.r++
		return c.str(false)
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	case b == '-' || (b >= '0' && b <= '9'):
		return c.number()
	}
	return errSyntax
}

func (c *canonicaliser) literal(lit string) error {
	for i := 0; i < len(lit); i++ {
		if err := c.expect(lit[i]); err != nil {
			return err
		}
	}
	c.out.appendString(lit)
	return nil
}

// digits copies a run of decimal digits and tells whether there was one.
func (c *canonicaliser) digits() bool {
	n := 0
	for {
		b, ok := c.peek()
		if !ok || b < '0' || b > '9' {
			return n > 0
		}
		c.out.appendByte(b)
		c.r++
		n++
	}
}

// number copies a number as written, checking JSON's grammar.
func (c *canonicaliser) number() error {
	if b, _ := c.peek(); b == '-' {
		c.out.appendByte(b)
		c.r++
	}
	b, ok := c.peek()
	switch {
	case !ok:
		return c.eofErr()
	case b == '0':
		c.out.appendByte(b)
		c.r++
	case b >= '1' && b <= '9':
		c.digits()
	default:
		return errSyntax
	}
	if b, _ := c.peek(); b == '.' {
		c.out.appendByte(b)
		c.r++
		if !c.digits() {
			return c.numberEnd()
		}
	}
	if b, _ := c.peek(); b == 'e' || b == 'E' {
		c.out.appendByte(b)
		c.r++
		if b, _ := c.peek(); b == '+' || b == '-' {
			c.out.appendByte(b)
			c.r++
		}
		if !c.digits() {
			return c.numberEnd()
		}
	}
	return nil
}

// numberEnd is the error for a number cut after its '.' or exponent.
func (c *canonicaliser) numberEnd() error {
	if _, ok := c.peek(); !ok {
		return c.eofErr()
	}
	return errSyntax
}

func (c *canonicaliser) array(depth int) error {
	c.out.appendByte('[')
	c.skipSpace()
	if b, ok := c.peek(); ok && b == ']' {
		c.r++
		c.out.appendByte(']')
		return nil
	}
	for {
		if err := c.value(depth); err != nil {
			return err
		}
		c.skipSpace()
		b, err := c.next()
		if err != nil {
			return err
		}
		switch b {
		case ',':
			c.out.appendByte(',')
		case ']':
			c.out.appendByte(']')
			return nil
		default:
			return errSyntax
		}
	}
}

// object writes the members as they come; if a key is not above the one
// before it (out of order or repeated), the members are sorted at the end
// and the last of each key kept.
func (c *canonicaliser) object(depth int) error {
	start := c.out.len()
	if start >= math.MaxUint32-chunkSize {
		return errors.New("JSON document too large")
	}
	c.out.appendByte('{')
	base, keyBase := len(c.members), len(c.keys)
	defer func() { c.members, c.keys = c.members[:base], c.keys[:keyBase] }()
	sorted := true
	c.skipSpace()
	if b, ok := c.peek(); ok && b == '}' {
		c.r++
		c.out.appendByte('}')
		return nil
	}
	for {
		c.skipSpace()
		if err := c.expect('"'); err != nil {
			return err
		}
		if len(c.members) > base {
			c.out.appendByte(',')
		}
		m := member{keyStart: uint32(len(c.keys)), start: uint32(c.out.len())}
		if err := c.str(true); err != nil {
			return err
		}
		m.keyEnd = uint32(len(c.keys))
		key := c.keys[m.keyStart:m.keyEnd]
		if len(c.members) > base {
			prev := c.members[len(c.members)-1]
			if bytes.Compare(c.keys[prev.keyStart:prev.keyEnd], key) >= 0 {
				sorted = false
			}
		}
		encodeString(c.out, key)
		c.skipSpace()
		if err := c.expect(':'); err != nil {
			return err
		}
		c.out.appendByte(':')
		if err := c.value(depth); err != nil {
			return err
		}
		m.end = uint32(c.out.len())
		c.members = append(c.members, m)
		c.skipSpace()
		b, err := c.next()
		if err != nil {
			return err
		}
		if b == '}' {
			break
		}
		if b != ',' {
			return errSyntax
		}
	}
	if !sorted {
		c.rearrange(start, c.members[base:])
	}
	c.out.appendByte('}')
	return nil
}

// rearrange rewrites the members of the object that starts at start in the
// output in key order, keeping the last member of each key.
func (c *canonicaliser) rearrange(start int, ms []member) {
	keys := c.keys
	slices.SortStableFunc(ms, func(a, b member) int {
		return bytes.Compare(keys[a.keyStart:a.keyEnd], keys[b.keyStart:b.keyEnd])
	})
	from := start + 1
	c.scratch.reset()
	c.out.copyTo(&c.scratch, from, c.out.len())
	c.out.truncate(from)
	first := true
	for i, m := range ms {
		if i+1 < len(ms) && bytes.Equal(keys[m.keyStart:m.keyEnd], keys[ms[i+1].keyStart:ms[i+1].keyEnd]) {
			continue // a later member has the same key
		}
		if !first {
			c.out.appendByte(',')
		}
		first = false
		c.scratch.copyTo(c.out, int(m.start)-from, int(m.end)-from)
	}
}

// str reads a string whose opening quote was consumed, decoding it as
// encoding/json does: escapes resolved, a lone surrogate escape and each
// byte of invalid UTF-8 turned into U+FFFD. A key is appended to c.keys
// decoded; a value is written encoded.
func (c *canonicaliser) str(key bool) error {
	if !key {
		c.out.appendByte('"')
	}
	for {
		b, err := c.next()
		if err != nil {
			return err
		}
		switch {
		case b == '"':
			if !key {
				c.out.appendByte('"')
			}
			return nil
		case b < ' ':
			return errSyntax
		case b == '\\':
			r, err := c.escape()
			if err != nil {
				return err
			}
			c.emit(r, key)
		case b < utf8.RuneSelf:
			c.emit(rune(b), key)
		default:
			c.r--
			c.ensure(utf8.UTFMax)
			r, size := utf8.DecodeRune(c.buf[c.r:c.w])
			c.r += size
			c.emit(r, key) // RuneError for an invalid byte: U+FFFD
		}
	}
}

// emit adds a decoded rune to a key, or writes it to a value string.
func (c *canonicaliser) emit(r rune, key bool) {
	if key {
		c.keys = utf8.AppendRune(c.keys, r)
		return
	}
	encodeRune(c.out, r)
}

// escape decodes the escape after a backslash.
func (c *canonicaliser) escape() (rune, error) {
	b, err := c.next()
	if err != nil {
		return 0, err
	}
	switch b {
	case '"', '\\', '/':
		return rune(b), nil
	case 'b':
		return '\b', nil
	case 'f':
		return '\f', nil
	case 'n':
		return '\n', nil
	case 'r':
		return '\r', nil
	case 't':
		return '\t', nil
	case 'u':
		r, ok := c.hex4()
		if !ok {
			return 0, c.syntaxOrEOF()
		}
		if !utf16.IsSurrogate(r) {
			return r, nil
		}
		// A pair only if a \u escape follows that completes it; else
		// U+FFFD, and what follows is read on its own.
		c.ensure(6)
		if c.w-c.r >= 6 && c.buf[c.r] == '\\' && c.buf[c.r+1] == 'u' {
			c.r += 2
			r2, ok := c.hex4()
			if ok {
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					return d, nil
				}
			}
			c.r -= 2 + 4*b2i(ok)
		}
		return utf8.RuneError, nil
	}
	return 0, errSyntax
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// hex4 reads four hex digits; on failure it consumes nothing.
func (c *canonicaliser) hex4() (rune, bool) {
	c.ensure(4)
	if c.w-c.r < 4 {
		return 0, false
	}
	var r rune
	for _, h := range c.buf[c.r : c.r+4] {
		switch {
		case h >= '0' && h <= '9':
			h -= '0'
		case h >= 'a' && h <= 'f':
			h -= 'a' - 10
		case h >= 'A' && h <= 'F':
			h -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(h)
	}
	c.r += 4
	return r, true
}

func (c *canonicaliser) syntaxOrEOF() error {
	if c.w-c.r < 4 {
		return c.eofErr()
	}
	return errSyntax
}

const hexDigits = "0123456789abcdef"

// encodeString writes s (valid UTF-8) quoted as encoding/json does with
// HTML escaping off.
func encodeString(out *chunks, s []byte) {
	out.appendByte('"')
	for len(s) > 0 {
		r, size := rune(s[0]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRune(s)
		}
		encodeRune(out, r)
		s = s[size:]
	}
	out.appendByte('"')
}

// encodeRune writes one rune of a string as encoding/json's encoder does
// with HTML escaping off.
func encodeRune(out *chunks, r rune) {
	switch {
	case r >= ' ' && r < utf8.RuneSelf && r != '"' && r != '\\':
		out.appendByte(byte(r))
	case r == '"' || r == '\\':
		out.appendByte('\\')
		out.appendByte(byte(r))
	case r == '\b':
		out.appendString(`\b`)
	case r == '\f':
		out.appendString(`\f`)
	case r == '\n':
		out.appendString(`\n`)
	case r == '\r':
		out.appendString(`\r`)
	case r == '\t':
		out.appendString(`\t`)
	case r < ' ':
		out.appendString(`\u00`)
		out.appendByte(hexDigits[r>>4])
		out.appendByte(hexDigits[r&0xF])
	case r == '\u2028' || r == '\u2029':
		out.appendString(`\u202`)
		out.appendByte(hexDigits[r&0xF])
	default:
		var b [utf8.UTFMax]byte
		n := utf8.EncodeRune(b[:], r)
		for _, x := range b[:n] {
			out.appendByte(x)
		}
	}
}

// chunks is a byte buffer in fixed-size chunks: growing it never copies
// what it holds, and a truncated buffer keeps its chunks for reuse.
type chunks struct {
	cs [][]byte // full chunks, then the last (all of capacity chunkSize)
	n  int      // bytes held
}

func (b *chunks) len() int { return b.n }

func (b *chunks) reset() { b.truncate(0) }

// truncate keeps the first n bytes.
func (b *chunks) truncate(n int) {
	b.n = n
	for i := range b.cs {
		lo := i * chunkSize
		b.cs[i] = b.cs[i][:min(max(n-lo, 0), chunkSize)]
	}
}

// tail is the chunk that the next byte goes to.
func (b *chunks) tail() []byte {
	i := b.n / chunkSize
	if i == len(b.cs) {
		b.cs = append(b.cs, make([]byte, 0, chunkSize))
	}
	return b.cs[i]
}

func (b *chunks) appendByte(x byte) {
	i := b.n / chunkSize
	if i == len(b.cs) {
		b.tail()
	}
	b.cs[i] = append(b.cs[i], x)
	b.n++
}

func (b *chunks) appendString(s string) {
	for len(s) > 0 {
		t := b.tail()
		k := copy(t[len(t):cap(t)], s)
		b.cs[b.n/chunkSize] = t[:len(t)+k]
		b.n += k
		s = s[k:]
	}
}

func (b *chunks) appendBytes(s []byte) {
	for len(s) > 0 {
		t := b.tail()
		k := copy(t[len(t):cap(t)], s)
		b.cs[b.n/chunkSize] = t[:len(t)+k]
		b.n += k
		s = s[k:]
	}
}

// copyTo appends bytes [from, to) of b to dst.
func (b *chunks) copyTo(dst *chunks, from, to int) {
	for from < to {
		c := b.cs[from/chunkSize]
		off := from % chunkSize
		seg := c[off:min(len(c), off+to-from)]
		dst.appendBytes(seg)
		from += len(seg)
	}
}

// reader reads the bytes held.
func (b *chunks) reader() io.Reader {
	rs := make([]io.Reader, 0, len(b.cs))
	for _, c := range b.cs {
		if len(c) > 0 {
			rs = append(rs, bytes.NewReader(c))
		}
	}
	return io.MultiReader(rs...)
}

// bytes copies the whole buffer into one slice (for tests).
func (b *chunks) bytes() []byte {
	out := make([]byte, 0, b.n)
	for _, c := range b.cs {
		out = append(out, c...)
	}
	return out
}
