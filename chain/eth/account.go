package eth

import (
	"crypto/ecdsa"
	"encoding/hex"
	"fmt"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/internal/eckey"
)

// Account is an Ethereum key pair that signs verification buffers exactly
// like the official SDKs (ethers Wallet.signMessage): deterministic RFC 6979
// nonces, low s, v = 27/28, "0x"-prefixed lower-case hex.
type Account struct {
	key     *ecdsa.PrivateKey
	address string
}

var _ chain.Signer = (*Account)(nil)

// NewAccount returns an account with a fresh random key.
func NewAccount() (*Account, error) { return newAccount(eckey.New("eth")) }

// AccountFromHex returns the account of a 32-byte private key written in hex,
// with or without a 0x prefix.
func AccountFromHex(hexKey string) (*Account, error) {
	return newAccount(eckey.FromHex("eth", hexKey))
}

func newAccount(key *ecdsa.PrivateKey, err error) (*Account, error) {
	if err != nil {
		return nil, err
	}
	return &Account{key: key, address: crypto.PubkeyToAddress(key.PublicKey).Hex()}, nil
}

// Chain returns "ETH", the chain the SDKs use for every EVM account.
func (a *Account) Chain() string { return "ETH" }

// Address returns the EIP-55 checksummed address.
func (a *Account) Address() string { return a.address }

// PrivateKeyHex returns the private key as "0x" and 64 lower-case hex digits.
func (a *Account) PrivateKeyHex() string {
	return "0x" + hex.EncodeToString(crypto.FromECDSA(a.key))
}

// Sign returns the EIP-191 signature of buffer as "0x" + hex(r‖s‖v), v = 27/28.
func (a *Account) Sign(buffer []byte) (string, error) {
	sig, err := crypto.Sign(Hash(buffer), a.key)
	if err != nil {
		return "", fmt.Errorf("eth: sign: %w", err)
	}
	sig[signatureLength-1] += 27
	return "0x" + hex.EncodeToString(sig), nil
}
