package eth_test

import (
	"strings"
	"testing"

	"github.com/goaleph/goaleph/chain/eth"
)

func TestAccountFromMnemonic(t *testing.T) {
	// The development mnemonic of Hardhat and Anvil: its first accounts are
	// published, well-known test keys.
	const mnemonic = "test test test test test test test test test test test junk"
	cases := []struct{ path, address, key string }{
		{"", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"},
		{"m/44'/60'/0'/0/1", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"},
	}
	for _, c := range cases {
		a, err := eth.AccountFromMnemonic(mnemonic, c.path)
		if err != nil {
			t.Fatal(err)
		}
		if a.Address() != c.address || a.PrivateKeyHex() != c.key {
			t.Errorf("path %q: %s %s, want %s %s", c.path, a.Address(), a.PrivateKeyHex(), c.address, c.key)
		}
	}
	// Extra spaces do not matter; a bad checksum word does.
	if a, err := eth.AccountFromMnemonic("  "+strings.ReplaceAll(mnemonic, " ", "   ")+" ", ""); err != nil || a.Address() != cases[0].address {
		t.Errorf("spacing: %v", err)
	}
	if _, err := eth.AccountFromMnemonic(strings.Replace(mnemonic, "junk", "test", 1), ""); err == nil {
		t.Error("a mnemonic with a bad checksum was accepted")
	}
	if _, err := eth.AccountFromMnemonic(mnemonic, "44'/60'"); err == nil {
		t.Error("a path without m/ was accepted")
	}
	m, err := eth.NewMnemonic()
	if err != nil || len(strings.Fields(m)) != 12 {
		t.Fatalf("new mnemonic %q: %v", m, err)
	}
	if _, err := eth.AccountFromMnemonic(m, ""); err != nil {
		t.Fatal(err)
	}
}
