package reconcile

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
)

// Version is the protocol version, the first byte of every message.
const Version = 1

// Range modes on the wire.
const (
	modeSkip        = 0 // nothing to do for this range
	modeFingerprint = 1 // 16-byte fingerprint of the sender's items in the range
	modeIDList      = 2 // all of the sender's items in the range
	modeIDDiff      = 3 // answer to an id list: the items the receiver lacks, and which of its own the sender lacks
)

const (
	// minNameLen and maxNameLen bound an item hash sent as a string (CIDs
	// are 46 to 62 characters). The lower bound keeps a forged list from
	// decoding into many more bytes of entries than the message holds.
	minNameLen = 16
	maxNameLen = 128
	// minEntryLen is the size of the smallest id list entry.
	minEntryLen = 1 + minNameLen
	// maxListLen bounds the number of entries of an id list accepted from a
	// peer. This implementation lists ranges of fewer than 64 items; the
	// margin leaves room for peers configured differently.
	maxListLen = 1024
	// maxBoundLen bounds the encoding of one bound: timestamp, prefix length,
	// prefix.
	maxBoundLen = binary.MaxVarintLen64 + 1 + len(ID{})
	// maxEntryLen bounds the encoding of one id list entry.
	maxEntryLen = 2 + maxNameLen
)

// Errors of the protocol.
var (
	// ErrMalformed reports a message that does not follow the wire format.
	ErrMalformed = errors.New("reconcile: malformed message")
	// ErrUnsupportedVersion reports a peer speaking another protocol version.
	ErrUnsupportedVersion = errors.New("reconcile: unsupported protocol version")
	// ErrFrameTooLarge reports a message larger than the configured limit.
	ErrFrameTooLarge = errors.New("reconcile: message too large")
)

// bound is the upper bound of a range: the range holds the items below it.
// Items compare with a bound as with the item {time, prefix padded with
// zeros}; a time of math.MaxUint64 is above every item ("infinity").
type bound struct {
	time   uint64
	plen   int
	prefix ID
}

var infinity = bound{time: math.MaxUint64}

func (b bound) key() Item { return Item{Time: b.time, ID: b.prefix} }

// minimalBound returns the shortest bound above prev and at or below next
// (prev < next).
func minimalBound(prev, next Item) bound {
	if prev.Time != next.Time {
		return bound{time: next.Time}
	}
	p := 0
	for p < len(next.ID) && prev.ID[p] == next.ID[p] {
		p++
	}
	b := bound{time: next.Time, plen: p + 1}
	copy(b.prefix[:p+1], next.ID[:p+1])
	return b
}

// encoder appends a message. Timestamps of bounds are delta-encoded from the
// previous bound of the message.
type encoder struct {
	buf      []byte
	lastTime uint64
	// actionable is set once a range that asks for a reply (fingerprint or
	// id list) is written.
	actionable bool
}

// mark is the state of an encoder to roll back to.
type mark struct {
	n          int
	lastTime   uint64
	actionable bool
}

func (e *encoder) mark() mark { return mark{len(e.buf), e.lastTime, e.actionable} }

func (e *encoder) reset(m mark) {
	e.buf, e.lastTime, e.actionable = e.buf[:m.n], m.lastTime, m.actionable
}

func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }

func (e *encoder) bound(b bound) {
	if b.time == math.MaxUint64 {
		e.uvarint(0)
		e.lastTime = math.MaxUint64
		e.uvarint(0)
		return
	}
	e.uvarint(b.time - e.lastTime + 1)
	e.lastTime = b.time
	e.uvarint(uint64(b.plen))
	e.buf = append(e.buf, b.prefix[:b.plen]...)
}

// entry appends an id list entry: 0 and the 32 id bytes when name is the hex
// form of id, else the length and bytes of name.
func (e *encoder) entry(id *ID, name string) {
	if hexOf(name, id) {
		e.buf = append(e.buf, 0)
		e.buf = append(e.buf, id[:]...)
		return
	}
	e.uvarint(uint64(len(name)))
	e.buf = append(e.buf, name...)
}

// entrySize returns the encoded size of an entry.
func entrySize(id *ID, name string) int {
	if hexOf(name, id) {
		return 1 + len(id)
	}
	return uvarintLen(uint64(len(name))) + len(name)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// decoder reads a message. The first error sticks; reads after it return
// zero values.
type decoder struct {
	buf      []byte
	lastTime uint64
	err      error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (d *decoder) more() bool { return d.err == nil && len(d.buf) > 0 }

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) == 0 {
		d.fail("truncated")
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf) {
		d.fail("truncated")
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) bound() bound {
	var b bound
	t := d.uvarint()
	switch {
	case t == 0:
		b.time = math.MaxUint64
	case t-1 > math.MaxUint64-d.lastTime:
		b.time = math.MaxUint64 // saturate: still infinity
	default:
		b.time = d.lastTime + (t - 1)
	}
	d.lastTime = b.time
	plen := d.uvarint()
	if plen > uint64(len(b.prefix)) {
		d.fail("bound prefix of %d bytes", plen)
		return bound{}
	}
	b.plen = int(plen)
	copy(b.prefix[:], d.bytes(b.plen))
	return b
}

func (d *decoder) fingerprint() fingerprint {
	var fp fingerprint
	copy(fp[:], d.bytes(fingerprintSize))
	return fp
}

// entry is an item named in an id list.
type entry struct {
	id   ID
	name string // "" when the item hash is the hex form of id
}

// hash returns the item hash of the entry.
func (e *entry) hash() string {
	if e.name == "" {
		return hex.EncodeToString(e.id[:])
	}
	return e.name
}

// count reads a list length and checks that the rest of the message can hold
// that many elements of at least minSize bytes, so that a forged length never
// causes a large allocation.
func (d *decoder) count(max, minSize int) int {
	n := d.uvarint()
	if d.err != nil {
		return 0
	}
	if n > uint64(max) || n > uint64(len(d.buf)/minSize) {
		d.fail("list of %d elements", n)
		return 0
	}
	return int(n)
}

func (d *decoder) entries(max int) []entry {
	n := d.count(max, minEntryLen)
	if n == 0 {
		return nil
	}
	es := make([]entry, 0, n)
	for range n {
		k := d.uvarint()
		switch {
		case d.err != nil:
			return nil
		case k == 0:
			var e entry
			copy(e.id[:], d.bytes(len(e.id)))
			es = append(es, e)
		case k < minNameLen || k > maxNameLen:
			d.fail("item hash of %d bytes", k)
			return nil
		default:
			name := d.bytes(int(k))
			if d.err != nil {
				return nil
			}
			for _, c := range name {
				if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
					d.fail("item hash %q", name)
					return nil
				}
			}
			s := string(name)
			e := entry{id: HashID(s), name: s}
			if isHexHash(s) {
				e.name = ""
			}
			es = append(es, e)
		}
	}
	if d.err != nil {
		return nil
	}
	return es
}

// indices reads a strictly increasing list of positions, delta-encoded.
func (d *decoder) indices(max int) []int {
	n := d.count(max, 1)
	if n == 0 {
		return nil
	}
	idx := make([]int, 0, n)
	next := uint64(0)
	for range n {
		v := d.uvarint()
		if d.err != nil {
			return nil
		}
		if v > math.MaxInt32 || next+v > math.MaxInt32 {
			d.fail("index out of range")
			return nil
		}
		next += v
		idx = append(idx, int(next))
		next++
	}
	return idx
}
