package tezos

// Test hooks: secret keys of the other curves, in the wallets' encoding.

// EncodeSecp256k1Secret returns spsk… for a 32-byte secret.
func EncodeSecp256k1Secret(b []byte) string { return encode(b, spsk) }

// EncodeP256Secret returns p2sk… for a 32-byte secret.
func EncodeP256Secret(b []byte) string { return encode(b, p2sk) }

// ISOTime exposes isoTime.
var ISOTime = isoTime
