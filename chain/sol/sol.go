// Package sol verifies and makes the ed25519 signatures of Solana (SOL) and
// Eclipse (ES) accounts.
//
// Importing the package registers its verifier with package chain for SOL
// and ES (see Chains).
//
// The signature field is a JSON object in a string:
// {"signature":"<base58, 64 bytes>","publicKey":"<base58, 32 bytes>"},
// optionally with "version":1. Acceptance follows pyaleph's SolanaConnector
// (json.loads, base58.b58decode, PyNaCl/libsodium 1.0.18), so that a message
// the reference node accepts is accepted here and vice versa:
//
//   - The signature must be a JSON object whose "signature" and "publicKey"
//     members are strings (other members are ignored; for a repeated key the
//     last one counts, and key names are case-sensitive). Python's json
//     module also accepts NaN and Infinity literals in unrelated members;
//     this verifier does not.
//   - "version", when present, must equal 1 the way Python compares it:
//     1, 1.0, 1e0 and true pass; "1", null and 2 do not.
//   - publicKey must equal sender exactly.
//   - Base58 strings lose trailing white space before decoding (b58decode
//     calls rstrip) and must then decode to exactly 64 (signature) and 32
//     (public key) bytes.
//   - The signature is verified over the raw buffer with crypto/ed25519,
//     plus libsodium's extra checks: the public key must be a canonical
//     encoding, and neither it nor R may be a point of small order.
package sol

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/mr-tron/base58"

	"github.com/goaleph/goaleph/chain"
)

// Chains lists the chain names whose messages use Solana-style signatures.
var Chains = []string{"SOL", "ES"}

func init() {
	chain.Register(Verifier{}, Chains...)
}

// Verifier verifies Solana-style ed25519 signatures. The zero value is ready
// to use and safe for concurrent use.
type Verifier struct{}

var _ chain.Verifier = Verifier{}

// Verify returns nil when signature is sender's signature of buffer, and an
// error wrapping chain.ErrInvalidSignature otherwise.
func (Verifier) Verify(sender string, buffer []byte, signature string) error {
	return chain.VerifyFields(sender, buffer, signature, verify)
}

func verify(sender string, buffer []byte, fields chain.Fields) error {
	sigText, keyText, err := fields.SignatureKey()
	if err != nil {
		return err
	}
	sig, err := decodeBase58(sigText, ed25519.SignatureSize)
	if err != nil {
		return fmt.Errorf("signature: %v", err)
	}
	key, err := decodeBase58(keyText, ed25519.PublicKeySize)
	if err != nil {
		return fmt.Errorf("publicKey: %v", err)
	}
	if raw, ok := fields["version"]; ok && !isOne(raw) {
		return fmt.Errorf("unsupported signature version %s", raw)
	}
	if keyText != sender {
		return errors.New("publicKey is not the sender")
	}
	if !isCanonicalPoint(key) || hasSmallOrder(key) || hasSmallOrder(sig[:32]) {
		return errors.New("weak public key or signature")
	}
	if !ed25519.Verify(key, buffer, sig) {
		return errors.New("ed25519 verification failed")
	}
	return nil
}

// isOne reports whether the JSON value raw compares equal to 1 in Python
// (json.loads(raw) == 1).
func isOne(raw json.RawMessage) bool {
	s := string(raw)
	if s == "true" {
		return true
	}
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return false // string, object, array, null, false
	}
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && f == 1
}

// decodeBase58 decodes s like Python's base58.b58decode (trailing white space
// ignored) and checks the decoded length.
func decodeBase58(s string, size int) ([]byte, error) {
	s = strings.TrimRightFunc(s, isPythonSpace)
	if s == "" {
		return nil, fmt.Errorf("0 bytes, want %d", size)
	}
	b, err := base58.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("not base58: %v", err)
	}
	if len(b) != size {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), size)
	}
	return b, nil
}

// isPythonSpace reports whether Python's str.isspace holds for r: Go's
// unicode.IsSpace plus the ASCII separators U+001C to U+001F.
func isPythonSpace(r rune) bool {
	return unicode.IsSpace(r) || (0x1c <= r && r <= 0x1f)
}
