// Package nuls2 verifies and makes the signatures of NULS2 accounts: compact
// recoverable secp256k1 signatures over the "NULS Signed Message" digest,
// with base58 addresses carrying the chain id and an xor checksum.
//
// Importing the package registers its verifier with package chain for the
// chain name "NULS2".
//
// Acceptance follows pyaleph (aleph/chains/nuls2.py with nuls2-python's
// recover_message_address), so that a message the reference node accepts is
// accepted here and vice versa:
//
//   - The signature is base64 decoded as Python's base64.b64decode does by
//     default: characters outside the alphabet are skipped, decoding stops
//     once a quantum is completed by padding, and a non-ASCII character or
//     an unfinished quantum is an error. It must give 65 bytes
//     header‖r‖s, the header being 27 + recovery id (0 to 3); the
//     "compressed" headers 31 to 34 are refused, as the reference does.
//   - The digest is sha256("\x18NULS Signed Message:\n" ‖ varint(len) ‖
//     buffer), with the NULS (Bitcoin-style) variable-length integer.
//   - The chain id is the little-endian int16 at the start of the base58
//     payload that follows the sender's prefix ("NULS" and one letter, or
//     "tNULS" and one letter). Only chain 1 (prefix NULS) and chain 2
//     (prefix tNULS) are known; any other is refused.
//   - The address recomputed from the recovered key and that chain id must
//     equal sender exactly (case and checksum included).
package nuls2

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/mr-tron/base58"
	"golang.org/x/crypto/ripemd160" //nolint:staticcheck // NULS addresses are defined with RIPEMD-160

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/internal/eckey"
)

// Name is the chain name of NULS2 messages.
const Name = "NULS2"

func init() {
	chain.Register(Verifier{}, Name)
}

// Chain ids of the NULS networks the reference knows, and their address
// prefixes.
const (
	MainnetChainID = 1 // prefix "NULS"
	TestnetChainID = 2 // prefix "tNULS"
)

// prefixes maps a chain id to its address prefix (nuls2-python's NETWORKS).
var prefixes = map[int16]string{MainnetChainID: "NULS", TestnetChainID: "tNULS"}

// signatureLength is the byte length of header‖r‖s.
const signatureLength = 65

// addressType is the address type byte of a plain account address.
const addressType = 1

// messagePrefix opens every signed message.
const messagePrefix = "\x18NULS Signed Message:\n"

// Verifier verifies NULS2 message signatures. The zero value is ready to
// use and safe for concurrent use.
type Verifier struct{}

var _ chain.Verifier = Verifier{}

// Verify returns nil when signature is sender's NULS2 signature of buffer,
// and an error wrapping chain.ErrInvalidSignature otherwise.
func (Verifier) Verify(sender string, buffer []byte, signature string) error {
	return chain.Invalid(verify(sender, buffer, signature))
}

func verify(sender string, buffer []byte, signature string) error {
	raw, err := decodeBase64(signature)
	if err != nil {
		return fmt.Errorf("signature is not base64: %v", err)
	}
	if len(raw) != signatureLength {
		return fmt.Errorf("signature is %d bytes, want %d", len(raw), signatureLength)
	}
	chainID, err := ChainID(sender)
	if err != nil {
		return err
	}
	prefix, ok := prefixes[chainID]
	if !ok {
		return fmt.Errorf("unknown NULS chain id %d", chainID)
	}
	if raw[0] < 27 || raw[0] > 30 {
		return fmt.Errorf("signature header %d is not 27 to 30", raw[0])
	}
	// header ‖ r ‖ s → r ‖ s ‖ recovery id
	pub, err := eckey.Recover(Digest(buffer), append(bytes.Clone(raw[1:]), raw[0]-27))
	if err != nil {
		return err
	}
	if addr := address(pub, chainID, prefix); addr != sender {
		return fmt.Errorf("signed by %s, not by sender", addr)
	}
	return nil
}

// Digest returns the sha256 digest a NULS2 account signs for buffer.
func Digest(buffer []byte) []byte {
	h := sha256.New()
	h.Write([]byte(messagePrefix))
	h.Write(varint(uint64(len(buffer))))
	h.Write(buffer)
	return h.Sum(nil)
}

// varint encodes n as the NULS variable-length integer: one byte below 253,
// else a marker (253, 254, 255) and 2, 4 or 8 little-endian bytes.
func varint(n uint64) []byte {
	switch {
	case n < 253:
		return []byte{byte(n)}
	case n <= 0xffff:
		b := []byte{253, 0, 0}
		binary.LittleEndian.PutUint16(b[1:], uint16(n))
		return b
	case n <= 0xffffffff:
		b := []byte{254, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(b[1:], uint32(n))
		return b
	default:
		b := make([]byte, 9)
		b[0] = 255
		binary.LittleEndian.PutUint64(b[1:], n)
		return b
	}
}

// maxPayloadDigits bounds the base58 part of a sender ChainID decodes.
const maxPayloadDigits = 64

// ChainID returns the chain id written in a NULS address: the little-endian
// int16 at the start of the base58 payload after the prefix.
func ChainID(addr string) (int16, error) {
	var payload string
	switch {
	case strings.HasPrefix(addr, "NULS") && len(addr) >= 5:
		payload = addr[5:]
	case strings.HasPrefix(addr, "tNULS") && len(addr) >= 6:
		payload = addr[6:]
	default:
		return 0, errors.New("sender is not a NULS address (no NULS or tNULS prefix)")
	}
	// A NULS address payload is 24 bytes, about 33 base58 digits. Longer
	// input cannot match the recomputed address, and base58 decoding takes
	// quadratic time, so it is refused before decoding.
	if len(payload) > maxPayloadDigits {
		return 0, errors.New("sender is too long for a NULS address")
	}
	b, err := base58.Decode(payload)
	if err != nil {
		return 0, fmt.Errorf("sender is not base58: %v", err)
	}
	if len(b) < 3 { // chain id, then at least the checksum byte
		return 0, errors.New("sender is too short")
	}
	return int16(binary.LittleEndian.Uint16(b)), nil
}

// Address returns the NULS address of a compressed secp256k1 public key on
// a chain: the prefix, one letter, and base58(chain id int16 LE ‖ type 1 ‖
// ripemd160(sha256(key)) ‖ xor of those bytes). It returns "" for a chain
// id without a known prefix.
func Address(compressedKey []byte, chainID int16) string {
	prefix, ok := prefixes[chainID]
	if !ok {
		return ""
	}
	return address(compressedKey, chainID, prefix)
}

func address(compressedKey []byte, chainID int16, prefix string) string {
	sum := sha256.Sum256(compressedKey)
	r := ripemd160.New()
	r.Write(sum[:])
	body := make([]byte, 0, 3+ripemd160.Size+1)
	body = binary.LittleEndian.AppendUint16(body, uint16(chainID))
	body = append(body, addressType)
	body = r.Sum(body)
	var xor byte
	for _, c := range body {
		xor ^= c
	}
	body = append(body, xor)
	// The letter after the prefix is the len(prefix)-th ASCII letter:
	// 'd' after "NULS", 'e' after "tNULS".
	return prefix + string(rune('a'+len(prefix)-1)) + base58.Encode(body)
}

// b64Values maps a byte to its value in the standard base64 alphabet, or
// 0xff for anything else.
var b64Values = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodeBase64 decodes s as Python's base64.b64decode(s) does with its
// default validate=False (binascii.a2b_base64 in non-strict mode).
func decodeBase64(s string) ([]byte, error) {
	out := make([]byte, 0, len(s)*3/4)
	var quad, pads int
	var left byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return nil, errors.New("non-ASCII character")
		}
		if c == '=' {
			if quad >= 2 {
				pads++
				if quad+pads >= 4 {
					return out, nil
				}
			}
			continue
		}
		v := b64Values[c]
		if v == 0xff {
			continue
		}
		pads = 0
		switch quad {
		case 0:
			left = v
		case 1:
			out = append(out, left<<2|v>>4)
			left = v & 0x0f
		case 2:
			out = append(out, left<<4|v>>2)
			left = v & 0x03
		case 3:
			out = append(out, left<<6|v)
			left = 0
		}
		quad = (quad + 1) % 4
	}
	switch quad {
	case 0:
		return out, nil
	case 1:
		return nil, errors.New("number of data characters is one more than a multiple of 4")
	default:
		return nil, errors.New("incorrect padding")
	}
}
