package reconcile

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/bits"
)

// ID is the 32-byte identifier of an item. See [HashID].
type ID [32]byte

// MaxTime is the largest item timestamp. The value math.MaxUint64 is reserved
// for the upper bound of the last range ("infinity").
const MaxTime = math.MaxUint64 - 1

// Item is one element of a reconciled set. Items are ordered by Time, then by
// ID (byte-wise); a set holds each (Time, ID) pair at most once.
type Item struct {
	Time uint64
	ID   ID
}

// Compare orders items by Time, then ID. It returns -1, 0 or +1.
func (a Item) Compare(b Item) int {
	switch {
	case a.Time < b.Time:
		return -1
	case a.Time > b.Time:
		return 1
	}
	for i := 0; i < len(a.ID); i += 8 {
		x := binary.BigEndian.Uint64(a.ID[i:])
		y := binary.BigEndian.Uint64(b.ID[i:])
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// HashID returns the id of an Aleph item hash. A sha256 item hash (64
// lower-case hex digits, the form of almost every message) is its own id:
// the decoded 32 bytes. Any other form (an IPFS CID, or hex in upper case) is
// identified by the sha256 of the string. The two cannot collide without a
// sha256 collision.
func HashID(itemHash string) ID {
	if id, ok := decodeHexHash(itemHash); ok {
		return id
	}
	return sha256.Sum256([]byte(itemHash))
}

// hexValue maps the lower-case hex digits to their value, anything else to
// 0xff.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	return t
}()

// decodeHexHash decodes s if it is 64 lower-case hex digits, in one pass.
func decodeHexHash(s string) (id ID, ok bool) {
	if len(s) != 2*len(id) {
		return id, false
	}
	var bad byte
	for i := range id {
		hi, lo := hexValue[s[2*i]], hexValue[s[2*i+1]]
		bad |= hi | lo
		id[i] = hi<<4 | lo&0x0f
	}
	return id, bad&0xf0 == 0
}

// isHexHash reports whether s is 64 lower-case hex digits.
func isHexHash(s string) bool {
	_, ok := decodeHexHash(s)
	return ok
}

// hexOf reports whether name is the lower-case hex form of id, the case that
// the wire format sends as raw bytes.
func hexOf(name string, id *ID) bool {
	if len(name) != 64 {
		return false
	}
	var buf [64]byte
	hex.Encode(buf[:], id[:])
	return string(buf[:]) == name
}

// TimeKey converts an Aleph message time (seconds since the epoch) to an item
// timestamp: whole microseconds, truncated. Negative and NaN times map to 0,
// times too large for the range to [MaxTime]. Both nodes must derive the
// timestamp of a message the same way, or it shows up as a difference on both
// sides; the conversion depends only on the float64 value, which is the same
// on every platform.
func TimeKey(t float64) uint64 {
	if !(t > 0) {
		return 0
	}
	v := t * 1e6
	if v >= float64(MaxTime) {
		return MaxTime
	}
	return uint64(v)
}

// Sum is the sum modulo 2^256 of item ids read as little-endian integers,
// least significant limb first. Sums of ranges can be added and subtracted,
// which lets a storage answer the fingerprint of any range from prefix sums.
type Sum [4]uint64

// Add adds id to s.
func (s *Sum) Add(id *ID) {
	var c uint64
	s[0], c = bits.Add64(s[0], binary.LittleEndian.Uint64(id[0:]), 0)
	s[1], c = bits.Add64(s[1], binary.LittleEndian.Uint64(id[8:]), c)
	s[2], c = bits.Add64(s[2], binary.LittleEndian.Uint64(id[16:]), c)
	s[3], _ = bits.Add64(s[3], binary.LittleEndian.Uint64(id[24:]), c)
}

// AddSum adds o to s.
func (s *Sum) AddSum(o Sum) {
	var c uint64
	s[0], c = bits.Add64(s[0], o[0], 0)
	s[1], c = bits.Add64(s[1], o[1], c)
	s[2], c = bits.Add64(s[2], o[2], c)
	s[3], _ = bits.Add64(s[3], o[3], c)
}

// SubSum subtracts o from s.
func (s *Sum) SubSum(o Sum) {
	var b uint64
	s[0], b = bits.Sub64(s[0], o[0], 0)
	s[1], b = bits.Sub64(s[1], o[1], b)
	s[2], b = bits.Sub64(s[2], o[2], b)
	s[3], _ = bits.Sub64(s[3], o[3], b)
}

// fingerprintSize is the length of a range fingerprint on the wire.
const fingerprintSize = 16

// fingerprint is what two sides compare for a range.
type fingerprint [fingerprintSize]byte

// fingerprintOf returns the fingerprint of a range of count items whose ids
// add up to sum: the first 16 bytes of sha256(sum as 32 little-endian bytes ||
// uvarint(count)).
func fingerprintOf(sum Sum, count int) fingerprint {
	var buf [32 + binary.MaxVarintLen64]byte
	for i, l := range sum {
		binary.LittleEndian.PutUint64(buf[8*i:], l)
	}
	n := binary.PutUvarint(buf[32:], uint64(count))
	h := sha256.Sum256(buf[:32+n])
	var fp fingerprint
	copy(fp[:], h[:])
	return fp
}
