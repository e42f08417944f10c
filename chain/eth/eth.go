// Package eth verifies and makes the EIP-191 personal_sign signatures of the
// EVM chains (ETH and the other EVM networks Aleph accepts).
//
// Importing the package registers its verifier with package chain for every
// EVM chain name (see Chains).
//
// Acceptance follows pyaleph, which recovers with eth-account
// (Account.recover_message over encode_defunct(text=buffer)), so that a
// message the reference node accepts is accepted here and vice versa:
//
//   - The signature is hex with an optional 0x/0X prefix, either letter
//     case; an odd number of digits is left-padded with one 0 (hexbytes
//     does so). It must decode to exactly 65 bytes r‖s‖v.
//   - v may be 27/28, 0/1, or an EIP-155 style value ≥ 35, whose parity
//     gives the recovery id (eth-account's to_standard_v). Any other v is
//     invalid.
//   - r and s must be in [1, n-1]. High s (s > n/2) is accepted: eth-keys
//     only checks s < n and libsecp256k1's recovery does not enforce low s.
//   - The recovered address is compared with sender ignoring ASCII case, so
//     both checksummed and lower/upper-case senders pass.
//
// pyaleph's smart-contract wallet paths (ERC-1271, ERC-6492), which need an
// RPC endpoint, are not implemented here.
package eth

import (
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/goaleph/goaleph/chain"
)

// Chains lists the chain names whose messages use EIP-191 signatures
// (core-node spec §3.2). The verifier is registered for all of them.
var Chains = []string{
	"ETH", "ETHERLINK", "ARB", "BASE", "BLAST", "BOB", "BSC", "CYBER", "FRAX",
	"HYPE", "INK", "LENS", "LINEA", "LISK", "METIS", "MODE", "NEO", "OP", "POL",
	"SONIC", "UNICHAIN", "WLD", "ZORA",
}

func init() {
	chain.Register(Verifier{}, Chains...)
}

// signatureLength is the byte length of r‖s‖v.
const signatureLength = 65

// Verifier verifies EIP-191 personal_sign signatures. The zero value is
// ready to use and safe for concurrent use.
type Verifier struct{}

var _ chain.Verifier = Verifier{}

// Verify returns nil when signature is sender's EIP-191 signature of buffer,
// and an error wrapping chain.ErrInvalidSignature otherwise.
func (Verifier) Verify(sender string, buffer []byte, signature string) error {
	sig, err := decodeSignature(signature)
	if err != nil {
		return fmt.Errorf("%w: %v", chain.ErrInvalidSignature, err)
	}
	pub, err := crypto.Ecrecover(Hash(buffer), sig)
	if err != nil {
		return fmt.Errorf("%w: recover: %v", chain.ErrInvalidSignature, err)
	}
	var addr [2 + 40]byte
	copy(addr[:], "0x")
	hex.Encode(addr[2:], crypto.Keccak256(pub[1:])[12:])
	if !equalFoldASCII(string(addr[:]), sender) {
		return fmt.Errorf("%w: signed by %s, not by sender", chain.ErrInvalidSignature, addr[:])
	}
	return nil
}

// Hash returns the EIP-191 personal_sign digest of buffer:
// keccak256("\x19Ethereum Signed Message:\n" + decimal(len(buffer)) + buffer).
func Hash(buffer []byte) []byte {
	prefix := make([]byte, 0, 32)
	prefix = append(prefix, "\x19Ethereum Signed Message:\n"...)
	prefix = strconv.AppendInt(prefix, int64(len(buffer)), 10)
	return crypto.Keccak256(prefix, buffer)
}

// decodeSignature parses the signature field into 65 bytes r‖s‖recid with
// the recovery id normalised to 0 or 1.
func decodeSignature(s string) ([]byte, error) {
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	if len(s)%2 == 1 {
		s = "0" + s
	}
	if len(s) != 2*signatureLength {
		return nil, fmt.Errorf("%d hex digits, want %d", len(s), 2*signatureLength)
	}
	sig := make([]byte, signatureLength)
	if _, err := hex.Decode(sig, []byte(s)); err != nil {
		return nil, fmt.Errorf("not hex: %v", err)
	}
	v := sig[signatureLength-1]
	switch {
	case v == 0 || v == 1:
	case v == 27 || v == 28:
		v -= 27
	case v >= 35:
		v = (v - 35) % 2
	default:
		return nil, fmt.Errorf("recovery byte v=%d is not one of 0, 1, 27, 28, 35+", v)
	}
	sig[signatureLength-1] = v
	return sig, nil
}

// equalFoldASCII reports whether a and b are equal ignoring ASCII case. It
// matches Python's a.lower() == b.lower() for addresses: no non-ASCII
// character lower-cases to a hex digit or to x.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
