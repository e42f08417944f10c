package eth

import (
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/tyler-smith/go-bip39"
)

// DefaultPath is the derivation path of the first account of a wallet, as
// ethers (and so the official SDK's importAccountFromMnemonic) uses it.
const DefaultPath = "m/44'/60'/0'/0/0"

// NewMnemonic returns a new 12-word BIP-39 mnemonic.
func NewMnemonic() (string, error) {
	entropy, err := bip39.NewEntropy(128)
	if err != nil {
		return "", err
	}
	return bip39.NewMnemonic(entropy)
}

// AccountFromMnemonic derives the account at path (DefaultPath when empty)
// from a BIP-39 mnemonic with an empty passphrase, by BIP-32.
func AccountFromMnemonic(mnemonic, path string) (*Account, error) {
	mnemonic = strings.Join(strings.Fields(mnemonic), " ")
	seed, err := bip39.NewSeedWithErrorChecking(mnemonic, "")
	if err != nil {
		return nil, fmt.Errorf("eth: mnemonic: %w", err)
	}
	if path == "" {
		path = DefaultPath
	}
	key, err := derive(seed, path)
	if err != nil {
		return nil, err
	}
	priv, err := crypto.ToECDSA(key)
	if err != nil {
		return nil, fmt.Errorf("eth: derived key: %w", err)
	}
	return newAccount(priv, nil)
}

// derive walks a BIP-32 path ("m/44'/60'/0'/0/0") from a seed and returns
// the private key. go-bip39 gives the seed; the few lines of BIP-32 private
// derivation are here rather than in a new dependency on a Bitcoin library.
func derive(seed []byte, path string) ([]byte, error) {
	parts := strings.Split(path, "/")
	if len(parts) == 0 || parts[0] != "m" {
		return nil, fmt.Errorf("eth: derivation path %q must start with m/", path)
	}
	mac := hmac.New(sha512.New, []byte("Bitcoin seed"))
	mac.Write(seed)
	i := mac.Sum(nil)
	key, chainCode := i[:32], i[32:]
	for _, p := range parts[1:] {
		hardened := strings.HasSuffix(p, "'")
		n, err := strconv.ParseUint(strings.TrimSuffix(p, "'"), 10, 31)
		if err != nil {
			return nil, fmt.Errorf("eth: derivation path %q: bad index %q", path, p)
		}
		index := uint32(n)
		var data []byte
		if hardened {
			index |= 1 << 31
			data = append([]byte{0}, key...)
		} else {
			data = secp256k1.PrivKeyFromBytes(key).PubKey().SerializeCompressed()
		}
		data = binary.BigEndian.AppendUint32(data, index)
		mac := hmac.New(sha512.New, chainCode)
		mac.Write(data)
		i := mac.Sum(nil)
		var il, k secp256k1.ModNScalar
		if il.SetByteSlice(i[:32]) {
			return nil, errors.New("eth: derived key out of range; use the next index")
		}
		k.SetByteSlice(key)
		k.Add(&il)
		if k.IsZero() {
			return nil, errors.New("eth: derived key is zero; use the next index")
		}
		b := k.Bytes()
		key, chainCode = b[:], i[32:]
	}
	return key, nil
}

// DeriveKey returns the secp256k1 private key at a BIP-32 path from a
// BIP-39 mnemonic with an empty passphrase. Other secp256k1 chains (Cosmos
// at m/44'/118'/0'/0/0) derive their keys the same way.
func DeriveKey(mnemonic, path string) ([]byte, error) {
	mnemonic = strings.Join(strings.Fields(mnemonic), " ")
	seed, err := bip39.NewSeedWithErrorChecking(mnemonic, "")
	if err != nil {
		return nil, fmt.Errorf("mnemonic: %w", err)
	}
	return derive(seed, path)
}
