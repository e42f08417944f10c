package csdk

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/goaleph/goaleph/chain"
)

// Account is a Cosmos secp256k1 key that signs verification buffers like
// the official SDKs (cosmjs signAmino over the signutil/MsgSignText sign
// document). The signatures are deterministic (RFC 6979, low S), so they
// equal the SDKs' for the same key and buffer.
type Account struct {
	key     *secp256k1.PrivateKey
	pub     []byte
	address string
}

var _ chain.Signer = (*Account)(nil)

// NewAccount returns an account with a fresh random key and the "cosmos"
// address prefix.
func NewAccount() (*Account, error) {
	key, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return nil, fmt.Errorf("csdk: generate key: %w", err)
	}
	return newAccount(key, DefaultHRP)
}

// AccountFromSecret returns the account (with the "cosmos" prefix) of a
// 32-byte secp256k1 private key in hex, with or without 0x, as
// `gaiad keys export --unarmored-hex` and the SDKs' private-key import use.
func AccountFromSecret(secret string) (*Account, error) {
	return AccountFromSecretHRP(secret, DefaultHRP)
}

// AccountFromSecretHRP is AccountFromSecret for another address prefix
// (another Cosmos SDK chain: "osmo", "juno", …).
func AccountFromSecretHRP(secret, hrp string) (*Account, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(secret), "0x"))
	if err != nil || len(b) != 32 {
		return nil, errors.New("csdk: private key must be 32 bytes of hex")
	}
	var k secp256k1.ModNScalar
	if k.SetByteSlice(b) || k.IsZero() {
		return nil, errors.New("csdk: private key out of range")
	}
	return newAccount(secp256k1.NewPrivateKey(&k), hrp)
}

func newAccount(key *secp256k1.PrivateKey, hrp string) (*Account, error) {
	pub := key.PubKey().SerializeCompressed()
	addr, err := Address(pub, hrp)
	if err != nil {
		return nil, err
	}
	if strings.Contains(hrp, "1") {
		return nil, errors.New("csdk: address prefix must not contain 1")
	}
	return &Account{key: key, pub: pub, address: addr}, nil
}

// Chain returns "CSDK".
func (a *Account) Chain() string { return "CSDK" }

// Address returns the bech32 address.
func (a *Account) Address() string { return a.address }

// Secret returns the private key in hex (64 digits, no prefix).
func (a *Account) Secret() string {
	k := a.key.Key.Bytes()
	return hex.EncodeToString(k[:])
}

// Sign returns the signature field the TypeScript SDK sends
// (JSON.stringify of cosmjs's StdSignature):
// {"pub_key":{"type":"tendermint/PubKeySecp256k1","value":"…"},"signature":"…"}.
func (a *Account) Sign(buffer []byte) (string, error) {
	digest := sha256.Sum256(SignDoc(buffer, a.address))
	sig := secpecdsa.Sign(a.key, digest[:])
	r, s := sig.R(), sig.S()
	var out [64]byte
	r.PutBytesUnchecked(out[:32])
	s.PutBytesUnchecked(out[32:])
	return `{"pub_key":{"type":"` + PubKeyType + `","value":"` + base64.StdEncoding.EncodeToString(a.pub) +
		`"},"signature":"` + base64.StdEncoding.EncodeToString(out[:]) + `"}`, nil
}
