package sol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/mr-tron/base58"

	"github.com/goaleph/goaleph/chain"
)

// Account is a Solana key pair that signs verification buffers exactly like
// the official SDKs (tweetnacl detached signatures wrapped in the
// {"signature","publicKey"} JSON string).
type Account struct {
	key     ed25519.PrivateKey
	address string
}

var _ chain.Signer = (*Account)(nil)

// NewAccount returns an account with a fresh random key.
func NewAccount() (*Account, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("sol: generate key: %w", err)
	}
	return newAccount(key), nil
}

// AccountFromSeed returns the account of a 32-byte ed25519 seed.
func AccountFromSeed(seed []byte) (*Account, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("sol: seed is %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return newAccount(ed25519.NewKeyFromSeed(seed)), nil
}

// AccountFromBase58 returns the account of a 64-byte secret key (seed
// followed by public key) in base58, as Solana wallets and the SDK export it.
// Like Keypair.fromSecretKey, it checks that the public key half belongs to
// the seed.
func AccountFromBase58(secret string) (*Account, error) {
	b, err := base58.Decode(secret)
	if err != nil {
		return nil, fmt.Errorf("sol: secret key is not base58: %w", err)
	}
	if len(b) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("sol: secret key is %d bytes, want %d", len(b), ed25519.PrivateKeySize)
	}
	key := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
	if !bytes.Equal(key[ed25519.SeedSize:], b[ed25519.SeedSize:]) {
		return nil, errors.New("sol: secret key's public half does not match its seed")
	}
	return newAccount(key), nil
}

func newAccount(key ed25519.PrivateKey) *Account {
	return &Account{key: key, address: base58.Encode(key.Public().(ed25519.PublicKey))}
}

// Chain returns "SOL".
func (a *Account) Chain() string { return "SOL" }

// Address returns the base58 public key.
func (a *Account) Address() string { return a.address }

// SecretBase58 returns the 64-byte secret key (seed and public key) in base58.
func (a *Account) SecretBase58() string { return base58.Encode(a.key) }

// Sign returns {"signature":"<base58>","publicKey":"<base58>"}, the signature
// field the SDK sends, with that key order and no spaces.
func (a *Account) Sign(buffer []byte) (string, error) {
	sig := ed25519.Sign(a.key, buffer)
	return `{"signature":"` + base58.Encode(sig) + `","publicKey":"` + a.address + `"}`, nil
}
