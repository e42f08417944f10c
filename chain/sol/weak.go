package sol

import "crypto/ed25519"

// libsodium (crypto_sign_ed25519_verify_detached, non-compat build, as
// bundled with PyNaCl) rejects a few inputs that crypto/ed25519 accepts.
// These functions reproduce its ge25519_is_canonical and
// ge25519_has_small_order so both verifiers agree.

// smallOrder lists the encodings libsodium treats as small-order points.
// The last byte is compared without its sign bit.
var smallOrder = [7][32]byte{
	// 0 (order 4)
	{},
	// 1 (order 1)
	{0x01},
	// order 8
	{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
		0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
	// order 8
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
	// p-1 (order 2)
	fieldEncoding(0xec),
	// p (= 0, order 4)
	fieldEncoding(0xed),
	// p+1 (= 1, order 1)
	fieldEncoding(0xee),
}

// fieldEncoding returns the little-endian encoding of 2^255 - 256 + low,
// i.e. p-1, p and p+1 for low = 0xec, 0xed, 0xee.
func fieldEncoding(low byte) [32]byte {
	var b [32]byte
	b[0] = low
	for i := 1; i < 31; i++ {
		b[i] = 0xff
	}
	b[31] = 0x7f
	return b
}

// hasSmallOrder reports whether the point encoding s (32 bytes) is one of
// libsodium's small-order encodings.
func hasSmallOrder(s []byte) bool {
	for _, bad := range smallOrder {
		match := true
		for j := 0; j < 31; j++ {
			if s[j] != bad[j] {
				match = false
				break
			}
		}
		if match && s[31]&0x7f == bad[31] {
			return true
		}
	}
	return false
}

// isCanonicalPoint reports whether the y coordinate of the point encoding s
// (32 bytes) is below the field prime p = 2^255 - 19, ignoring the sign bit.
func isCanonicalPoint(s []byte) bool {
	if s[31]&0x7f != 0x7f {
		return true
	}
	for i := 30; i > 0; i-- {
		if s[i] != 0xff {
			return true
		}
	}
	return s[0] < 0xed
}

// VerifyLibsodium reports whether sig is key's ed25519 signature of msg
// under libsodium's rules (crypto_sign_verify_detached as PyNaCl and
// pysodium bundle it): crypto/ed25519 plus a canonical public key and no
// small-order public key or R. Other chains whose reference verifies
// ed25519 with libsodium (Tezos tz1) use it too.
func VerifyLibsodium(key ed25519.PublicKey, msg, sig []byte) bool {
	if len(key) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	if !isCanonicalPoint(key) || hasSmallOrder(key) || hasSmallOrder(sig[:32]) {
		return false
	}
	return ed25519.Verify(key, msg, sig)
}
