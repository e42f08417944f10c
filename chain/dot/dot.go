// Package dot verifies and makes the sr25519 signatures of Substrate (DOT)
// accounts.
//
// Importing the package registers its verifier with package chain for DOT.
//
// The signature field is a JSON object in a string:
// {"curve":"sr25519","data":"0x<hex, 64 bytes>"}. Acceptance follows
// pyaleph's SubstrateConnector (json.loads, substrate-interface's
// Keypair(ss58_address=sender).verify), so that a message the reference node
// accepts is accepted here and vice versa:
//
//   - The signature must be a JSON object with a string "data" member. The
//     "curve" member is not checked: the reference logs a curve other than
//     sr25519 and verifies sr25519 anyway, so an ed25519 signature never
//     verifies.
//   - data is hex, with or without a 0x prefix, and must decode to a
//     64-byte schnorrkel signature (marker bit set).
//   - The sender is an SS58 address of any network format (checksum
//     checked, reserved formats 46 and 47 refused) holding a 32-byte public
//     key, or that key as 0x-prefixed hex, as substrate-interface allows.
//   - The buffer must be UTF-8. The signature is checked with the
//     "substrate" signing context over the buffer, and then over the buffer
//     wrapped in <Bytes>…</Bytes>, the form browser extensions sign (signRaw).
package dot

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	schnorrkel "github.com/ChainSafe/go-schnorrkel"
	"github.com/mr-tron/base58"
	"golang.org/x/crypto/blake2b"

	"github.com/goaleph/goaleph/chain"
)

// Chains lists the chain names whose messages use Substrate signatures.
var Chains = []string{"DOT"}

func init() {
	chain.Register(Verifier{}, Chains...)
}

// signingContext is the schnorrkel context Substrate signs messages in.
var signingContext = []byte("substrate")

// DefaultFormat is the SS58 network format of the addresses the SDKs make
// (42, generic Substrate).
const DefaultFormat = 42

// Verifier verifies Substrate sr25519 signatures. The zero value is ready to
// use and safe for concurrent use.
type Verifier struct{}

var _ chain.Verifier = Verifier{}

// Verify returns nil when signature is sender's signature of buffer, and an
// error wrapping chain.ErrInvalidSignature otherwise.
func (Verifier) Verify(sender string, buffer []byte, signature string) error {
	return chain.VerifyFields(sender, buffer, signature, verify)
}

func verify(sender string, buffer []byte, fields chain.Fields) error {
	raw, ok := fields["data"]
	if !ok {
		return errors.New(`no "data" member`)
	}
	var data string
	if err := json.Unmarshal(raw, &data); err != nil {
		return errors.New(`"data" is not a string`)
	}
	sigBytes, err := hex.DecodeString(strings.TrimPrefix(data, "0x"))
	if err != nil {
		return errors.New("data is not hex")
	}
	if len(sigBytes) != schnorrkel.SignatureSize {
		return fmt.Errorf("data is %d bytes, want %d", len(sigBytes), schnorrkel.SignatureSize)
	}
	key, err := PublicKey(sender)
	if err != nil {
		return fmt.Errorf("sender: %v", err)
	}
	if !utf8.Valid(buffer) {
		return errors.New("buffer is not UTF-8")
	}
	var sb [schnorrkel.SignatureSize]byte
	copy(sb[:], sigBytes)
	sig := new(schnorrkel.Signature)
	if err := sig.Decode(sb); err != nil {
		return fmt.Errorf("data: %v", err)
	}
	pub, err := schnorrkel.NewPublicKey(key)
	if err != nil {
		return fmt.Errorf("sender: %v", err)
	}
	if ok, err := pub.Verify(sig, schnorrkel.NewSigningContext(signingContext, buffer)); err == nil && ok {
		return nil
	}
	wrapped := make([]byte, 0, len(buffer)+len("<Bytes></Bytes>"))
	wrapped = append(append(append(wrapped, "<Bytes>"...), buffer...), "</Bytes>"...)
	if ok, err := pub.Verify(sig, schnorrkel.NewSigningContext(signingContext, wrapped)); err == nil && ok {
		return nil
	}
	return errors.New("sr25519 verification failed")
}

// ss58Prefix is hashed before an SS58 payload to make its checksum.
var ss58Prefix = []byte("SS58PRE")

// PublicKey returns the 32-byte public key an SS58 address (any network
// format) or a 0x-prefixed hex key names.
func PublicKey(address string) ([32]byte, error) {
	var key [32]byte
	if strings.HasPrefix(address, "0x") {
		b, err := hex.DecodeString(address[2:])
		if err != nil || len(b) != 32 {
			return key, errors.New("not a 32-byte hex public key")
		}
		copy(key[:], b)
		return key, nil
	}
	b, err := base58.Decode(address)
	if err != nil {
		return key, errors.New("not base58")
	}
	if len(b) == 0 {
		return key, errors.New("empty address")
	}
	prefixLen := 1
	format := int(b[0])
	switch {
	case b[0]&0x80 != 0:
		return key, errors.New("invalid SS58 format byte")
	case b[0]&0x40 != 0:
		if len(b) < 2 {
			return key, errors.New("address too short")
		}
		prefixLen = 2
		format = int(b[0]&0x3f)<<2 | int(b[1]>>6) | int(b[1]&0x3f)<<8
	}
	if format == 46 || format == 47 {
		return key, fmt.Errorf("reserved SS58 format %d", format)
	}
	if len(b) != prefixLen+32+2 {
		return key, fmt.Errorf("address holds %d bytes, want a 32-byte public key", len(b)-prefixLen-2)
	}
	sum := checksum(b[:prefixLen+32])
	if !bytes.Equal(sum[:2], b[prefixLen+32:]) {
		return key, errors.New("bad SS58 checksum")
	}
	copy(key[:], b[prefixLen:prefixLen+32])
	return key, nil
}

// Address returns the SS58 address of key in network format (0 to 16383).
func Address(key [32]byte, format int) (string, error) {
	var b []byte
	switch {
	case format < 0 || format > 16383 || format == 46 || format == 47:
		return "", fmt.Errorf("dot: invalid SS58 format %d", format)
	case format < 64:
		b = []byte{byte(format)}
	default:
		b = []byte{byte(format&0xfc)>>2 | 0x40, byte(format>>8) | byte(format&0x03)<<6}
	}
	b = append(b, key[:]...)
	sum := checksum(b)
	return base58.Encode(append(b, sum[:2]...)), nil
}

func checksum(payload []byte) [64]byte {
	h, _ := blake2b.New512(nil)
	h.Write(ss58Prefix)
	h.Write(payload)
	var out [64]byte
	copy(out[:], h.Sum(nil))
	return out
}
