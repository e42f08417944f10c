package tezos

import "github.com/decred/dcrd/dcrec/secp256k1/v4"

// Test hooks: secret keys of the other curves, in the wallets' encoding.

// EncodeSecp256k1Secret returns spsk… for a 32-byte secret.
func EncodeSecp256k1Secret(b []byte) string { return encode(b, spsk) }

// EncodeP256Secret returns p2sk… for a 32-byte secret.
func EncodeP256Secret(b []byte) string { return encode(b, p2sk) }

// ISOTime exposes isoTime.
var ISOTime = isoTime

// NegateS returns the spsig1… signature s with S replaced by n-S.
func NegateS(t interface{ Fatal(...any) }, s string) string {
	b, err := decode(s, spsig)
	if err != nil {
		t.Fatal(err)
	}
	var sc secp256k1.ModNScalar
	sc.SetByteSlice(b[32:])
	sc.Negate()
	out := append([]byte{}, b...)
	sc.PutBytesUnchecked(out[32:])
	return encode(out, spsig)
}

// SDKTime exposes sdkTime.
var SDKTime = sdkTime
