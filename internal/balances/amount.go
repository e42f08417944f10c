// Package balances holds what the node knows about token balances, without
// I/O: exact amounts (18 decimals, in base units), the content of the
// reference's balances-update posts, and the shape the API serves.
package balances

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
)

// Decimals is the number of decimals of the ALEPH token on every chain the
// balances cover; amounts are kept in base units of 10⁻¹⁸ token.
const Decimals = 18

// ErrBadAmount is returned for an amount that is not a decimal number.
var ErrBadAmount = errors.New("invalid amount")

// maxAmountLen bounds the text of one amount, maxExponent its exponent and
// maxUnits its value (10⁴² tokens, far beyond any supply), so that hostile
// input cannot make a huge number.
const (
	maxAmountLen = 100
	maxExponent  = 80
)

var (
	ten      = big.NewInt(10)
	maxUnits = pow10(60)
)

func pow10(n int) *big.Int { return new(big.Int).Exp(ten, big.NewInt(int64(n)), nil) }

// ParseAmount converts a decimal number of tokens, as JSON writes it
// ("12", "-0.5", "1.25e-05"), to base units. Digits beyond the 18th
// decimal are dropped (truncated toward zero), so the result is exact for
// every amount a float64 can carry and for any decimal text of 18 places.
func ParseAmount(s string) (*big.Int, error) {
	if s == "" || len(s) > maxAmountLen {
		return nil, ErrBadAmount
	}
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(s[i+1:])
		if err != nil || e > maxExponent || e < -maxExponent {
			return nil, ErrBadAmount
		}
		mant, exp = s[:i], e
	}
	neg := strings.HasPrefix(mant, "-")
	if neg {
		mant = mant[1:]
	}
	whole, frac, dot := strings.Cut(mant, ".")
	if whole == "" || (dot && frac == "") || !digits(whole) || !digits(frac) {
		return nil, ErrBadAmount
	}
	v, _ := new(big.Int).SetString(whole+frac, 10)
	if shift := Decimals + exp - len(frac); shift >= 0 {
		v.Mul(v, pow10(shift))
	} else {
		v.Quo(v, pow10(-shift))
	}
	if v.Cmp(maxUnits) > 0 {
		return nil, ErrBadAmount
	}
	if neg {
		v.Neg(v)
	}
	return v, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatAmount writes base units as a decimal number of tokens with every
// significant digit and at least one decimal ("1500.25", "0.0",
// "0.000000000000000001"): the text of a JSON number that a float parser
// reads as the reference's float, and an exact parser reads exactly.
func FormatAmount(v *big.Int) string {
	if v == nil {
		return "0.0"
	}
	a := new(big.Int).Abs(v)
	q, r := new(big.Int).QuoRem(a, pow10(Decimals), new(big.Int))
	frac := strings.TrimRight(leftPad(r.String(), Decimals), "0")
	if frac == "" {
		frac = "0"
	}
	out := q.String() + "." + frac
	if v.Sign() < 0 {
		out = "-" + out
	}
	return out
}

func leftPad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat("0", n-len(s)) + s
}
