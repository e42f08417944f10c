package dot

import (
	"encoding/hex"
	"fmt"
	"strings"

	schnorrkel "github.com/ChainSafe/go-schnorrkel"
	"github.com/tyler-smith/go-bip39"

	"github.com/goaleph/goaleph/chain"
)

// Account is a Substrate sr25519 key pair that signs verification buffers
// like the official SDKs: {"curve":"sr25519","data":"0x<hex>"}. sr25519
// signatures are randomized, so two signatures of a buffer differ.
type Account struct {
	kp      *schnorrkel.Keypair
	secret  string
	address string
}

var _ chain.Signer = (*Account)(nil)

// NewAccount returns an account of a fresh 12-word mnemonic, as the SDKs'
// NewAccount makes.
func NewAccount() (*Account, error) {
	entropy, err := bip39.NewEntropy(128)
	if err != nil {
		return nil, fmt.Errorf("dot: generate mnemonic: %w", err)
	}
	mnemonic, err := bip39.NewMnemonic(entropy)
	if err != nil {
		return nil, fmt.Errorf("dot: generate mnemonic: %w", err)
	}
	return AccountFromSecret(mnemonic)
}

// AccountFromSecret returns the account of a BIP-39 mnemonic (derived the
// Substrate way, as polkadot.js and substrate-interface do, with no password
// and no derivation path) or of a 32-byte mini secret key in hex ("0x…"),
// the two forms Substrate wallets export.
func AccountFromSecret(secret string) (*Account, error) {
	secret = strings.TrimSpace(secret)
	var mini *schnorrkel.MiniSecretKey
	if strings.HasPrefix(secret, "0x") {
		b, err := hex.DecodeString(secret[2:])
		if err != nil || len(b) != schnorrkel.MiniSecretKeySize {
			return nil, fmt.Errorf("dot: secret seed must be 0x and %d bytes of hex", schnorrkel.MiniSecretKeySize)
		}
		var raw [schnorrkel.MiniSecretKeySize]byte
		copy(raw[:], b)
		if mini, err = schnorrkel.NewMiniSecretKeyFromRaw(raw); err != nil {
			return nil, fmt.Errorf("dot: secret seed: %w", err)
		}
		secret = strings.ToLower(secret)
	} else {
		secret = strings.Join(strings.Fields(secret), " ")
		var err error
		if mini, err = schnorrkel.MiniSecretKeyFromMnemonic(secret, ""); err != nil {
			return nil, fmt.Errorf("dot: mnemonic: %w", err)
		}
	}
	sk := mini.ExpandEd25519()
	kp, err := sk.Keypair()
	if err != nil {
		return nil, fmt.Errorf("dot: key pair: %w", err)
	}
	pub, err := sk.Public()
	if err != nil {
		return nil, fmt.Errorf("dot: public key: %w", err)
	}
	address, err := Address(pub.Encode(), DefaultFormat)
	if err != nil {
		return nil, err
	}
	return &Account{kp: kp, secret: secret, address: address}, nil
}

// Chain returns "DOT".
func (a *Account) Chain() string { return "DOT" }

// Address returns the SS58 address in format 42.
func (a *Account) Address() string { return a.address }

// Secret returns the mnemonic or hex seed the account was made from.
func (a *Account) Secret() string { return a.secret }

// Sign returns {"curve":"sr25519","data":"0x<hex>"}, the signature field the
// TypeScript SDK sends (JSON.stringify: that key order, no spaces).
func (a *Account) Sign(buffer []byte) (string, error) {
	sig, err := a.kp.Sign(schnorrkel.NewSigningContext(signingContext, buffer))
	if err != nil {
		return "", fmt.Errorf("dot: sign: %w", err)
	}
	b := sig.Encode()
	return `{"curve":"sr25519","data":"0x` + hex.EncodeToString(b[:]) + `"}`, nil
}
