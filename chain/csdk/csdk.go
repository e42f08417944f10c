// Package csdk verifies and makes the signatures of Cosmos SDK (CSDK)
// accounts: secp256k1 over an amino sign document, as ADR-036-era wallets
// (cosmjs signAmino) produce for a text.
//
// Importing the package registers its verifier with package chain for CSDK.
//
// The signature field is a JSON object in a string:
// {"pub_key":{"type":"tendermint/PubKeySecp256k1","value":"<base64>"},"signature":"<base64, 64 bytes>"}
// (other members, such as account_number, are ignored). Acceptance follows
// pyaleph's CosmosConnector (json.loads, base64.b64decode, cosmospy's
// pubkey_to_address, python-ecdsa's VerifyingKey.verify):
//
//   - pub_key must be an object with a string "value"; its "type" is not
//     checked (the reference only logs another type).
//   - Base64 is decoded as Python's b64decode does by default: characters
//     outside the alphabet are dropped first.
//   - The sender's human-readable part is what precedes its first "1"; the
//     bech32 address of ripemd160(sha256(public key bytes)) with that part
//     must equal the sender exactly.
//   - The public key is a compressed (33 bytes), uncompressed (65) or raw
//     (64) secp256k1 point; the signature is r‖s, 64 bytes, each in
//     [1, n-1], and either S is accepted.
//   - The signed bytes are the sign document as Python's json.dumps writes
//     it (sorted keys, no spaces, non-ASCII escaped):
//     {"account_number":"0","chain_id":"signed-message-v1","fee":{"amount":[],"gas":"0"},"memo":"",
//     "msgs":[{"type":"signutil/MsgSignText","value":{"message":"<buffer>","signer":"<sender>"}}],"sequence":"0"}
//     hashed with SHA-256.
package csdk

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/decred/dcrd/bech32"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	"golang.org/x/crypto/ripemd160" //nolint:staticcheck // Cosmos addresses are defined with RIPEMD-160

	"github.com/goaleph/goaleph/chain"
)

// Chains lists the chain names whose messages use Cosmos signatures.
var Chains = []string{"CSDK"}

func init() {
	chain.Register(Verifier{}, Chains...)
}

// DefaultHRP is the human-readable part of the addresses the SDKs make.
const DefaultHRP = "cosmos"

// PubKeyType is the amino type of a secp256k1 public key.
const PubKeyType = "tendermint/PubKeySecp256k1"

// Verifier verifies Cosmos signatures. The zero value is ready to use and
// safe for concurrent use.
type Verifier struct{}

var _ chain.Verifier = Verifier{}

// Verify returns nil when signature is sender's signature of buffer, and an
// error wrapping chain.ErrInvalidSignature otherwise.
func (Verifier) Verify(sender string, buffer []byte, signature string) error {
	return chain.VerifyFields(sender, buffer, signature, verify)
}

func verify(sender string, buffer []byte, fields chain.Fields) error {
	var pubKey map[string]json.RawMessage
	if err := json.Unmarshal(fields["pub_key"], &pubKey); err != nil || pubKey == nil {
		return errors.New(`"pub_key" is not an object`)
	}
	var keyText, sigText string
	if err := json.Unmarshal(pubKey["value"], &keyText); err != nil {
		return errors.New(`"pub_key.value" is not a string`)
	}
	if err := json.Unmarshal(fields["signature"], &sigText); err != nil {
		return errors.New(`"signature" is not a string`)
	}
	key, err := decodeBase64(keyText)
	if err != nil {
		return fmt.Errorf("pub_key: %v", err)
	}
	sig, err := decodeBase64(sigText)
	if err != nil {
		return fmt.Errorf("signature: %v", err)
	}
	hrp, _, ok := strings.Cut(sender, "1")
	if !ok {
		return errors.New("sender has no bech32 separator")
	}
	if addr, err := Address(key, hrp); err != nil || addr != sender {
		return errors.New("sender is not the public key's address")
	}
	if len(sig) != 64 {
		return fmt.Errorf("signature is %d bytes, want 64", len(sig))
	}
	if !utf8.Valid(buffer) {
		return errors.New("buffer is not UTF-8")
	}
	pub, err := parsePubKey(key)
	if err != nil {
		return err
	}
	var r, s secp256k1.ModNScalar
	if r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:]) {
		return errors.New("signature scalar out of range")
	}
	if r.IsZero() || s.IsZero() {
		return errors.New("signature scalar is zero")
	}
	// python-ecdsa accepts either S; libsecp256k1 only the low one, and
	// (r, s) verifies exactly when (r, n-s) does.
	compact := make([]byte, 64)
	r.PutBytesUnchecked(compact[:32])
	if s.IsOverHalfOrder() {
		s.Negate()
	}
	s.PutBytesUnchecked(compact[32:])
	digest := sha256.Sum256(SignDoc(buffer, sender))
	// go-ethereum's binding of libsecp256k1 (pure Go without cgo).
	if !ethcrypto.VerifySignature(pub.SerializeUncompressed(), digest[:], compact) {
		return errors.New("secp256k1 verification failed")
	}
	return nil
}

// parsePubKey parses the encodings python-ecdsa's from_string accepts for
// secp256k1, but the hybrid one.
func parsePubKey(key []byte) (*secp256k1.PublicKey, error) {
	if len(key) == 64 {
		key = append([]byte{0x04}, key...)
	}
	if len(key) == 65 && key[0] != 0x04 {
		return nil, errors.New("pub_key is not a secp256k1 point")
	}
	pub, err := secp256k1.ParsePubKey(key)
	if err != nil {
		return nil, errors.New("pub_key is not a secp256k1 point")
	}
	return pub, nil
}

// Address returns the bech32 address with human-readable part hrp of the
// public key bytes key: ripemd160(sha256(key)).
func Address(key []byte, hrp string) (string, error) {
	h := sha256.Sum256(key)
	r := ripemd160.New()
	r.Write(h[:])
	addr, err := bech32.EncodeFromBase256(hrp, r.Sum(nil))
	if err != nil {
		return "", fmt.Errorf("csdk: address: %w", err)
	}
	return addr, nil
}

// decodeBase64 decodes s like Python's base64.b64decode without validate:
// characters outside the base64 alphabet and "=" are discarded first.
func decodeBase64(s string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '+', r == '/', r == '=':
			return r
		}
		return -1
	}, s)
	b, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, errors.New("not base64")
	}
	return b, nil
}

// SignDoc returns the amino sign document the wallet signs for buffer by
// signer, serialized as pyaleph does (json.dumps with sorted keys, compact
// separators and ASCII escapes).
func SignDoc(buffer []byte, signer string) []byte {
	out := make([]byte, 0, 256+len(buffer)+len(signer))
	out = append(out, `{"account_number":"0","chain_id":"signed-message-v1","fee":{"amount":[],"gas":"0"},"memo":"","msgs":[{"type":"signutil/MsgSignText","value":{"message":`...)
	out = appendPyString(out, string(buffer))
	out = append(out, `,"signer":`...)
	out = appendPyString(out, signer)
	return append(out, `}}],"sequence":"0"}`...)
}

// appendPyString appends s as a JSON string the way Python's json.dumps
// (ensure_ascii) writes it.
func appendPyString(out []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	out = append(out, '"')
	for _, r := range s {
		switch {
		case r == '"':
			out = append(out, `\"`...)
		case r == '\\':
			out = append(out, `\\`...)
		case r == '\n':
			out = append(out, `\n`...)
		case r == '\r':
			out = append(out, `\r`...)
		case r == '\t':
			out = append(out, `\t`...)
		case r == '\b':
			out = append(out, `\b`...)
		case r == '\f':
			out = append(out, `\f`...)
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			out = append(out, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
		case r >= 0x10000:
			r1, r2 := utf16.EncodeRune(r)
			for _, c := range []rune{r1, r2} {
				out = append(out, '\\', 'u', hexDigits[c>>12&0xf], hexDigits[c>>8&0xf], hexDigits[c>>4&0xf], hexDigits[c&0xf])
			}
		default:
			out = append(out, byte(r))
		}
	}
	return append(out, '"')
}
