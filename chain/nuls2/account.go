package nuls2

import (
	"crypto/ecdsa"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/internal/eckey"
)

// Account is a NULS2 key pair on the NULS main chain (chain id 1, prefix
// NULS) that signs verification buffers exactly like the official SDKs
// (@aleph-sdk/nuls2, aleph-sdk-python's NULSAccount): deterministic
// RFC 6979 nonces, low s, header 27 + recovery id, standard base64.
type Account struct {
	key     *ecdsa.PrivateKey
	address string
}

var _ chain.Signer = (*Account)(nil)

// NewAccount returns an account with a fresh random key.
func NewAccount() (*Account, error) { return newAccount(eckey.New("nuls2")) }

// AccountFromSecret returns the account of a 32-byte private key written
// as 64 hex digits, with or without a 0x prefix (what NULS wallets export
// and what the SDKs import).
func AccountFromSecret(secret string) (*Account, error) {
	return newAccount(eckey.FromHex("nuls2", strings.TrimSpace(secret)))
}

func newAccount(key *ecdsa.PrivateKey, err error) (*Account, error) {
	if err != nil {
		return nil, err
	}
	return &Account{key: key, address: Address(crypto.CompressPubkey(&key.PublicKey), MainnetChainID)}, nil
}

// Chain returns "NULS2".
func (a *Account) Chain() string { return Name }

// Address returns the account's NULS address ("NULSd…").
func (a *Account) Address() string { return a.address }

// Secret returns the private key as 64 lower-case hex digits, the form
// AccountFromSecret reads.
func (a *Account) Secret() string { return hex.EncodeToString(crypto.FromECDSA(a.key)) }

// Sign returns base64(header ‖ r ‖ s) over buffer's NULS digest, header =
// 27 + recovery id.
func (a *Account) Sign(buffer []byte) (string, error) {
	sig, err := crypto.Sign(Digest(buffer), a.key)
	if err != nil {
		return "", fmt.Errorf("nuls2: sign: %w", err)
	}
	out := make([]byte, signatureLength)
	out[0] = sig[64] + 27
	copy(out[1:], sig[:64])
	return base64.StdEncoding.EncodeToString(out), nil
}
