// Package eckey makes and parses the secp256k1 private keys of the
// EVM-family accounts (ETH, AVAX, NULS2), with errors named for the chain
// package that asked.
package eckey

import (
	"crypto/ecdsa"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"
)

// New returns a fresh random key; name ("eth") opens the error.
func New(name string) (*ecdsa.PrivateKey, error) {
	key, err := crypto.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("%s: generate key: %w", name, err)
	}
	return key, nil
}

// FromHex returns the key written as 64 hex digits, with or without a 0x
// prefix; name opens the error.
func FromHex(name, s string) (*ecdsa.PrivateKey, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil {
		return nil, fmt.Errorf("%s: private key is not hex: %w", name, err)
	}
	return FromBytes(name, b)
}

// FromBytes returns the key of the 32-byte big-endian scalar b, refusing
// zero and values not below the curve order; name opens the error.
func FromBytes(name string, b []byte) (*ecdsa.PrivateKey, error) {
	key, err := crypto.ToECDSA(b)
	if err != nil {
		return nil, fmt.Errorf("%s: private key: %w", name, err)
	}
	return key, nil
}

// Recover returns the compressed public key that made the 65-byte
// signature r‖s‖recovery id of digest.
func Recover(digest, sig []byte) ([]byte, error) {
	if len(sig) != 65 {
		return nil, fmt.Errorf("signature is %d bytes, want 65", len(sig))
	}
	if sig[64] > 3 {
		return nil, fmt.Errorf("recovery id %d is not 0 to 3", sig[64])
	}
	pub, err := crypto.SigToPub(digest, sig)
	if err != nil {
		return nil, fmt.Errorf("recover: %v", err)
	}
	return crypto.CompressPubkey(pub), nil
}
