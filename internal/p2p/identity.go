package p2p

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// LoadOrCreateKey reads the node's identity key from path (PKCS #8 DER:
// RSA, Ed25519 or ECDSA), or creates an Ed25519 key there, readable by its
// owner only, when the file does not exist.
func LoadOrCreateKey(path string) (crypto.PrivKey, error) {
	der, err := os.ReadFile(path)
	if err == nil {
		std, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("read identity key %s: %w", path, err)
		}
		if k, ok := std.(ed25519.PrivateKey); ok {
			std = &k // the form KeyPairFromStdKey takes
		}
		priv, _, err := crypto.KeyPairFromStdKey(std)
		if err != nil {
			return nil, fmt.Errorf("read identity key %s: %w", path, err)
		}
		return priv, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	_, std, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err = x509.MarshalPKCS8PrivateKey(std)
	if err != nil {
		return nil, err
	}
	priv, _, err := crypto.KeyPairFromStdKey(&std)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	// Write then rename, so that a crash never leaves half a key behind.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, der, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return priv, nil
}
