package avax

import (
	"crypto/ecdsa"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/chain/internal/eckey"
)

// secretPrefix opens the private keys Avalanche wallets export
// ("PrivateKey-" and the CB58 key).
const secretPrefix = "PrivateKey-"

// Account is an Avalanche X-chain key pair that signs verification buffers
// exactly like the official SDKs (@aleph-sdk/avalanche with a key pair,
// aleph-sdk-python's AvalancheAccount): deterministic RFC 6979 nonces, low
// s, r‖s‖recovery id in CB58, sender "X-avax1…".
type Account struct {
	key     *ecdsa.PrivateKey
	address string
}

var _ chain.Signer = (*Account)(nil)

// NewAccount returns an account with a fresh random key.
func NewAccount() (*Account, error) { return newAccount(eckey.New("avax")) }

// AccountFromSecret returns the account of a private key written as the
// wallets export it ("PrivateKey-" and CB58) or as 64 hex digits, with or
// without 0x (both forms the TypeScript SDK imports).
func AccountFromSecret(secret string) (*Account, error) {
	s := strings.TrimSpace(secret)
	var b []byte
	var err error
	if rest, ok := strings.CutPrefix(s, secretPrefix); ok {
		if b, err = DecodeCB58(rest); err != nil {
			return nil, fmt.Errorf("avax: private key: %w", err)
		}
	} else {
		s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
		if b, err = hex.DecodeString(s); err != nil {
			return nil, fmt.Errorf("avax: private key is neither PrivateKey-<cb58> nor hex: %w", err)
		}
	}
	return newAccount(eckey.FromBytes("avax", b))
}

func newAccount(key *ecdsa.PrivateKey, err error) (*Account, error) {
	if err != nil {
		return nil, err
	}
	addr, err := Address("X", crypto.CompressPubkey(&key.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("avax: %w", err)
	}
	return &Account{key: key, address: addr}, nil
}

// Chain returns "AVAX".
func (a *Account) Chain() string { return Name }

// Address returns the X-chain address ("X-avax1…").
func (a *Account) Address() string { return a.address }

// Secret returns the private key as the Avalanche wallets export it:
// "PrivateKey-" and the CB58 key.
func (a *Account) Secret() string { return secretPrefix + EncodeCB58(crypto.FromECDSA(a.key)) }

// Sign returns the CB58 signature of buffer's Avalanche digest.
func (a *Account) Sign(buffer []byte) (string, error) {
	sig, err := crypto.Sign(Digest(buffer), a.key)
	if err != nil {
		return "", fmt.Errorf("avax: sign: %w", err)
	}
	return EncodeCB58(sig), nil
}

// EVM returns the EVM-style (C-chain) signer of the same key: a 0x address
// signing EIP-191 messages under chain "ETH", as the SDKs send C-chain
// messages.
func (a *Account) EVM() (*eth.Account, error) {
	return eth.AccountFromHex(hex.EncodeToString(crypto.FromECDSA(a.key)))
}
