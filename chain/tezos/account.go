package tezos

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/blake2b"

	"github.com/goaleph/goaleph/chain"
)

// StandardDAppURL is the dApp URL the TypeScript SDK names in its Micheline
// signatures.
const StandardDAppURL = "https://aleph.im"

// Account is a Tezos key (tz1 ed25519, tz2 secp256k1 or tz3 P-256) that
// signs verification buffers like the official SDKs.
type Account struct {
	curve   curve
	ed      ed25519.PrivateKey
	secp    *secp256k1.PrivateKey
	p256    *ecdsa.PrivateKey
	pub     publicKey
	address string
}

var _ chain.Signer = (*Account)(nil)

// NewAccount returns a tz1 (ed25519) account with a fresh random key, as the
// TypeScript SDK's NewAccount makes.
func NewAccount() (*Account, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tezos: generate key: %w", err)
	}
	return newEd25519(key), nil
}

// AccountFromSecret returns the account of an unencrypted Tezos secret key
// as wallets (and octez-client, taquito's InMemorySigner) export it: edsk…
// (the 32-byte seed form or the 64-byte seed-and-public-key form), spsk… or
// p2sk….
func AccountFromSecret(secret string) (*Account, error) {
	secret = strings.TrimSpace(secret)
	switch {
	case strings.HasPrefix(secret, "edsk") && len(secret) == edsk.length:
		b, err := decode(secret, edsk)
		if err != nil {
			return nil, fmt.Errorf("tezos: secret key: %w", err)
		}
		key := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
		if !bytes.Equal(key[ed25519.SeedSize:], b[ed25519.SeedSize:]) {
			return nil, errors.New("tezos: secret key's public half does not match its seed")
		}
		return newEd25519(key), nil
	case strings.HasPrefix(secret, "edsk"):
		b, err := decode(secret, edskSeed)
		if err != nil {
			return nil, fmt.Errorf("tezos: secret key: %w", err)
		}
		return newEd25519(ed25519.NewKeyFromSeed(b)), nil
	case strings.HasPrefix(secret, "spsk"):
		b, err := decode(secret, spsk)
		if err != nil {
			return nil, fmt.Errorf("tezos: secret key: %w", err)
		}
		var k secp256k1.ModNScalar
		if k.SetByteSlice(b) || k.IsZero() {
			return nil, errors.New("tezos: secp256k1 secret key out of range")
		}
		priv := secp256k1.NewPrivateKey(&k)
		return newAccount(secp256k1Curve, publicKey{secp256k1Curve, priv.PubKey().SerializeCompressed()}, func(a *Account) { a.secp = priv }), nil
	case strings.HasPrefix(secret, "p2sk"):
		b, err := decode(secret, p2sk)
		if err != nil {
			return nil, fmt.Errorf("tezos: secret key: %w", err)
		}
		priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b)
		if err != nil {
			return nil, fmt.Errorf("tezos: p256 secret key: %w", err)
		}
		raw := elliptic.MarshalCompressed(elliptic.P256(), priv.X, priv.Y) //nolint:staticcheck // SEC1 compressed form is what Tezos encodes
		return newAccount(p256Curve, publicKey{p256Curve, raw}, func(a *Account) { a.p256 = priv }), nil
	}
	return nil, errors.New("tezos: secret key must be an unencrypted edsk…, spsk… or p2sk… key")
}

func newEd25519(key ed25519.PrivateKey) *Account {
	pub := publicKey{ed25519Curve, []byte(key.Public().(ed25519.PublicKey))}
	return newAccount(ed25519Curve, pub, func(a *Account) { a.ed = key })
}

func newAccount(c curve, pub publicKey, set func(*Account)) *Account {
	a := &Account{curve: c, pub: pub, address: pub.hash()}
	set(a)
	return a
}

// Chain returns "TEZOS".
func (a *Account) Chain() string { return "TEZOS" }

// Address returns the public key hash (tz1…, tz2… or tz3…).
func (a *Account) Address() string { return a.address }

// PublicKey returns the public key in base58check (edpk…, sppk… or p2pk…).
func (a *Account) PublicKey() string { return a.pub.String() }

// Secret returns the secret key as AccountFromSecret reads it: edsk… in
// the 64-byte form, spsk… or p2sk….
func (a *Account) Secret() string {
	switch a.curve {
	case ed25519Curve:
		return encode(a.ed, edsk)
	case secp256k1Curve:
		k := a.secp.Key.Bytes()
		return encode(k[:], spsk)
	default:
		b, _ := a.p256.Bytes()
		return encode(b, p2sk)
	}
}

// Sign returns the raw-form signature field the Python SDK sends,
// {"publicKey": "…", "signature": "…"} (json.dumps spacing), signing the
// verification buffer itself.
func (a *Account) Sign(buffer []byte) (string, error) {
	sig, err := a.signBytes(buffer)
	if err != nil {
		return "", err
	}
	return `{"publicKey": "` + a.PublicKey() + `", "signature": "` + sig + `"}`, nil
}

// SignAt returns the Micheline-form signature field Beacon wallets send for
// a message whose envelope time is t (Unix seconds), with the time stamp
// pyaleph reconstructs, naming dAppURL (StandardDAppURL when empty):
// {"signature":"…","publicKey":"…","signingType":"micheline","dAppUrl":"…"}.
func (a *Account) SignAt(buffer []byte, t float64, dAppURL string) (string, error) {
	if dAppURL == "" {
		dAppURL = StandardDAppURL
	}
	stamp, err := isoTime(t)
	if err != nil {
		return "", fmt.Errorf("tezos: %w", err)
	}
	sig, err := a.signBytes(MichelinePayload(buffer, stamp, dAppURL))
	if err != nil {
		return "", err
	}
	return michelineField(sig, a.PublicKey(), dAppURL), nil
}

// SignAtSDK returns, byte for byte, the signature field the TypeScript SDK
// (@aleph-sdk/tezos 1.7, taquito's InMemorySigner) writes for a message
// whose envelope time is t: the Micheline form with that SDK's time stamp
// (the seconds read as milliseconds, see the package doc), the dApp URL
// StandardDAppURL and the generic sig… signature encoding. pyaleph refuses
// it; this node accepts it. Use SignAt (or Sign) for messages meant for
// any node.
func (a *Account) SignAtSDK(buffer []byte, t float64) (string, error) {
	if _, err := isoTime(t); err != nil {
		return "", fmt.Errorf("tezos: %w", err)
	}
	sig, err := a.signBytes(MichelinePayload(buffer, sdkTime(t), StandardDAppURL))
	if err != nil {
		return "", err
	}
	raw, err := decode(sig, keyEncodings[a.curve].sig)
	if err != nil {
		return "", fmt.Errorf("tezos: %w", err)
	}
	return michelineField(encode(raw, sigGeneric), a.PublicKey(), StandardDAppURL), nil
}

// michelineField writes a Micheline-form signature field in the member
// order the TypeScript SDK uses.
func michelineField(sig, publicKey, dAppURL string) string {
	return `{"signature":"` + sig + `","publicKey":"` + publicKey +
		`","signingType":"micheline","dAppUrl":` + jsonString(dAppURL) + `}`
}

// signBytes signs the BLAKE2b-256 digest of msg and returns the
// curve-specific base58check signature (edsig…, spsig1…, p2sig…).
func (a *Account) signBytes(msg []byte) (string, error) {
	digest := blake2b.Sum256(msg)
	switch a.curve {
	case ed25519Curve:
		return encode(ed25519.Sign(a.ed, digest[:]), edsig), nil
	case secp256k1Curve:
		sig := secpecdsa.Sign(a.secp, digest[:]) // RFC 6979, low S
		r, s := sig.R(), sig.S()
		var out [64]byte
		r.PutBytesUnchecked(out[:32])
		s.PutBytesUnchecked(out[32:])
		return encode(out[:], spsig), nil
	default:
		r, s, err := ecdsa.Sign(rand.Reader, a.p256, digest[:])
		if err != nil {
			return "", fmt.Errorf("tezos: sign: %w", err)
		}
		n := elliptic.P256().Params().N
		if s.Cmp(new(big.Int).Rsh(n, 1)) > 0 {
			s.Sub(n, s) // low S, as taquito's signer writes it
		}
		var out [64]byte
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return encode(out[:], p2sig), nil
	}
}

// jsonString returns s as a JSON string literal, as JSON.stringify writes it.
func jsonString(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}
