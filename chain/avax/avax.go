// Package avax verifies and makes the signatures of Avalanche X-chain and
// P-chain accounts: recoverable secp256k1 signatures over the "Avalanche
// Signed Message" digest, written in CB58, by bech32 "avax" addresses.
//
// Importing the package registers its verifier with package chain for the
// chain name "AVAX".
//
// Acceptance follows pyaleph (aleph/chains/avalanche.py), so that a message
// the reference node accepts is accepted here and vice versa:
//
//   - The sender is "<chain>-<bech32>" (X-avax1…, P-avax1…); it must hold a
//     "-" and, after it, a "1". The address recomputed from the recovered
//     key is "<chain>-" + bech32("avax", ripemd160(sha256(compressed key)))
//     and must equal sender exactly.
//   - The signature is CB58: base58 (trailing white space ignored, as the
//     Python base58 package does) of the 65 bytes r‖s‖recovery id (0 to 3)
//     followed by the last 4 bytes of their sha256.
//   - The digest is sha256("\x1aAvalanche Signed Message:\n" ‖
//     uint32 big-endian length ‖ buffer).
//
// The EVM-style form of an Avalanche account (C-chain, 0x address) signs
// with EIP-191 and its messages carry chain "ETH", which chain/eth verifies;
// the official SDKs send such messages that way (Account.EVM gives that
// signer). An AVAX message with a 0x sender is refused, as pyaleph refuses it.
package avax

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/decred/dcrd/bech32"
	"github.com/mr-tron/base58"
	"golang.org/x/crypto/ripemd160" //nolint:staticcheck // Avalanche addresses are defined with RIPEMD-160

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/internal/eckey"
)

// Name is the chain name of Avalanche X/P-chain messages.
const Name = "AVAX"

// HRP is the bech32 human-readable part of Avalanche mainnet addresses,
// the only one the reference writes.
const HRP = "avax"

func init() {
	chain.Register(Verifier{}, Name)
}

// checksumLength is the length of the CB58 checksum.
const checksumLength = 4

// messagePrefix opens every signed message.
const messagePrefix = "\x1aAvalanche Signed Message:\n"

// Verifier verifies Avalanche X/P-chain message signatures. The zero value
// is ready to use and safe for concurrent use.
type Verifier struct{}

var _ chain.Verifier = Verifier{}

// Verify returns nil when signature is sender's Avalanche signature of
// buffer, and an error wrapping chain.ErrInvalidSignature otherwise.
func (Verifier) Verify(sender string, buffer []byte, signature string) error {
	return chain.Invalid(verify(sender, buffer, signature))
}

func verify(sender string, buffer []byte, signature string) error {
	chainID, rest, ok := strings.Cut(sender, "-")
	if !ok || !strings.Contains(rest, "1") {
		return errors.New("sender is not <chain>-<bech32 address>")
	}
	sig, err := DecodeCB58(strings.TrimRightFunc(signature, isPythonSpace))
	if err != nil {
		return err
	}
	pub, err := eckey.Recover(Digest(buffer), sig)
	if err != nil {
		return err
	}
	addr, err := Address(chainID, pub)
	if err != nil {
		return err
	}
	if addr != sender {
		return fmt.Errorf("signed by %s, not by sender", addr)
	}
	return nil
}

// Digest returns the sha256 digest an Avalanche account signs for buffer.
func Digest(buffer []byte) []byte {
	h := sha256.New()
	h.Write([]byte(messagePrefix))
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(buffer)))
	h.Write(n[:])
	h.Write(buffer)
	return h.Sum(nil)
}

// Address returns "<chainID>-" + bech32("avax", ripemd160(sha256(key))) for
// a compressed secp256k1 public key, e.g. chainID "X".
func Address(chainID string, compressedKey []byte) (string, error) {
	sum := sha256.Sum256(compressedKey)
	r := ripemd160.New()
	r.Write(sum[:])
	bits, err := bech32.ConvertBits(r.Sum(nil), 8, 5, true)
	if err != nil {
		return "", fmt.Errorf("address bits: %v", err)
	}
	enc, err := bech32.Encode(HRP, bits)
	if err != nil {
		return "", fmt.Errorf("address bech32: %v", err)
	}
	return chainID + "-" + enc, nil
}

// EncodeCB58 returns base58(b ‖ last 4 bytes of sha256(b)).
func EncodeCB58(b []byte) string {
	sum := sha256.Sum256(b)
	return base58.Encode(append(bytes.Clone(b), sum[len(sum)-checksumLength:]...))
}

// maxCB58Digits bounds the input of DecodeCB58.
const maxCB58Digits = 256

// DecodeCB58 returns the payload of a CB58 string after checking its
// checksum.
func DecodeCB58(s string) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return nil, errors.New("signature is not ASCII")
		}
	}
	// base58 decoding takes quadratic time; a CB58 signature is about 95
	// digits, so far longer input is refused before decoding (it could not
	// be 65 bytes and a checksum).
	if len(s) > maxCB58Digits {
		return nil, errors.New("signature is too long")
	}
	raw, err := base58.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("signature is not base58: %v", err)
	}
	if len(raw) < checksumLength {
		return nil, errors.New("signature is shorter than its checksum")
	}
	payload, check := raw[:len(raw)-checksumLength], raw[len(raw)-checksumLength:]
	sum := sha256.Sum256(payload)
	if !bytes.Equal(sum[len(sum)-checksumLength:], check) {
		return nil, errors.New("signature checksum does not match")
	}
	return payload, nil
}

// isPythonSpace reports whether Python's str.isspace holds for r: Go's
// unicode.IsSpace plus the ASCII separators U+001C to U+001F.
func isPythonSpace(r rune) bool {
	return unicode.IsSpace(r) || (0x1c <= r && r <= 0x1f)
}
