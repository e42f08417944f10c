package sol

import (
	"math/big"
	"testing"
)

func le(b [32]byte) *big.Int {
	for i, j := 0, 31; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return new(big.Int).SetBytes(b[:])
}

func TestSmallOrderTable(t *testing.T) {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	// The two order-8 y coordinates are negatives of each other.
	if sum := new(big.Int).Add(le(smallOrder[2]), le(smallOrder[3])); sum.Cmp(p) != 0 {
		t.Errorf("order-8 entries do not sum to p: %x", sum)
	}
	for i, want := range []int64{-1, 0, 1} {
		if got := le(smallOrder[4+i]); got.Cmp(new(big.Int).Add(p, big.NewInt(want))) != 0 {
			t.Errorf("entry %d = %x, want p%+d", 4+i, got, want)
		}
	}
}

func TestHasSmallOrder(t *testing.T) {
	for i, e := range smallOrder {
		b := e
		if !hasSmallOrder(b[:]) {
			t.Errorf("entry %d not detected", i)
		}
		b[31] |= 0x80 // sign bit ignored
		if !hasSmallOrder(b[:]) {
			t.Errorf("entry %d with sign bit not detected", i)
		}
		b[0] ^= 0x04
		if hasSmallOrder(b[:]) {
			t.Errorf("entry %d with a changed byte detected", i)
		}
	}
	base := [32]byte{0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
		0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66} // the base point
	if hasSmallOrder(base[:]) {
		t.Error("base point reported as small order")
	}
}

func TestIsCanonicalPoint(t *testing.T) {
	enc := func(low, high byte) []byte {
		b := fieldEncoding(low)
		b[31] = high
		return b[:]
	}
	tests := []struct {
		name string
		s    []byte
		want bool
	}{
		{"zero", make([]byte, 32), true},
		{"p-1", enc(0xec, 0x7f), true},
		{"p-1 with sign bit", enc(0xec, 0xff), true},
		{"p", enc(0xed, 0x7f), false},
		{"p+1", enc(0xee, 0x7f), false},
		{"2^255-1", enc(0xff, 0x7f), false},
		{"2^255-1 with sign bit", enc(0xff, 0xff), false},
		{"p with sign bit", enc(0xed, 0xff), false},
		{"high byte below 0x7f", enc(0xff, 0x7e), true},
	}
	for _, tc := range tests {
		if got := isCanonicalPoint(tc.s); got != tc.want {
			t.Errorf("%s: isCanonicalPoint = %v, want %v", tc.name, got, tc.want)
		}
	}
	mid := fieldEncoding(0xff)
	mid[15] = 0xfe
	if !isCanonicalPoint(mid[:]) {
		t.Error("value with a non-0xff middle byte reported non-canonical")
	}
}
