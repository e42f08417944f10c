package cli

import (
	"fmt"
	"strings"

	"github.com/goaleph/goaleph/chain/avax"
	"github.com/goaleph/goaleph/chain/csdk"
	"github.com/goaleph/goaleph/chain/dot"
	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/chain/nuls2"
	"github.com/goaleph/goaleph/chain/sol"
	"github.com/goaleph/goaleph/chain/tezos"
	"github.com/goaleph/goaleph/message"
)

// accountKind is one chain the CLI can make and import accounts for.
type accountKind struct {
	chain  string // chain name, as in --chain and the config file
	format string // how the secret is written, for help text
	// create makes a fresh key pair.
	create func() (message.Signer, error)
	// fromSecret reads a secret as a wallet exports it (format).
	fromSecret func(secret string) (message.Signer, error)
	// secret writes the secret of a signer create or fromSecret returned,
	// in a form fromSecret reads; it is what the key file holds.
	secret func(s message.Signer) string
}

// accountKinds lists the chains of accounts, in the order help text shows
// them. Each chain package offers NewAccount, a secret reader and a writer;
// the table only names them.
var accountKinds = []accountKind{
	kind("ETH", "64 hex digits, optionally 0x-prefixed", eth.NewAccount, eth.AccountFromHex, (*eth.Account).PrivateKeyHex),
	kind("SOL", "base58 64-byte secret key (Phantom, solana-keygen)", sol.NewAccount, sol.AccountFromBase58, (*sol.Account).SecretBase58),
	kind("NULS2", "64 hex digits (NULS wallet private key)", nuls2.NewAccount, nuls2.AccountFromSecret, (*nuls2.Account).Secret),
	kind("AVAX", "PrivateKey-<cb58> (Avalanche wallet export) or 64 hex digits", avax.NewAccount, avax.AccountFromSecret, (*avax.Account).Secret),
	kind("TEZOS", "unencrypted secret key: edsk… (tz1), spsk… (tz2) or p2sk… (tz3)", tezos.NewAccount, tezos.AccountFromSecret, (*tezos.Account).Secret),
	kind("DOT", "BIP-39 mnemonic (polkadot.js) or 0x and a 32-byte hex mini secret", dot.NewAccount, dot.AccountFromSecret, (*dot.Account).Secret),
	kind("CSDK", "64 hex digits (gaiad keys export --unarmored-hex), cosmos1… address", csdk.NewAccount, csdk.AccountFromSecret, (*csdk.Account).Secret),
}

// kind returns the account kind of chain from its package's constructors:
// create, fromSecret and the secret writer of its account type A.
func kind[A message.Signer](chain, format string, create func() (A, error), fromSecret func(string) (A, error), secret func(A) string) accountKind {
	return accountKind{
		chain: chain, format: format,
		create:     func() (message.Signer, error) { return create() },
		fromSecret: func(s string) (message.Signer, error) { return fromSecret(s) },
		secret:     func(s message.Signer) string { return secret(s.(A)) },
	}
}

// kindOf returns the account kind of chain (upper case).
func kindOf(chain string) (accountKind, error) {
	for _, k := range accountKinds {
		if k.chain == chain {
			return k, nil
		}
	}
	return accountKind{}, fmt.Errorf("chain must be one of %s, not %q", kindNames(), chain)
}

// kindNames returns the chains of accountKinds as "ETH, SOL, …".
func kindNames() string {
	names := make([]string, len(accountKinds))
	for i, k := range accountKinds {
		names[i] = k.chain
	}
	return strings.Join(names, ", ")
}

// kindFormats returns one help line per chain saying how its secret is
// written.
func kindFormats() string {
	var b strings.Builder
	for _, k := range accountKinds {
		fmt.Fprintf(&b, "  %-6s %s\n", k.chain, k.format)
	}
	return b.String()
}

// parseKey decodes a private key of chain in its kind's secret format.
func parseKey(chain, key string) (message.Signer, error) {
	k, err := kindOf(chain)
	if err != nil {
		return nil, err
	}
	s, err := k.fromSecret(key)
	if err != nil {
		return nil, fmt.Errorf("bad %s private key: %w", chain, err)
	}
	return s, nil
}

// newKey makes a key pair of chain and returns it with its encoded secret.
func newKey(chain string) (message.Signer, string, error) {
	k, err := kindOf(chain)
	if err != nil {
		return nil, "", err
	}
	s, err := k.create()
	if err != nil {
		return nil, "", err
	}
	return s, k.secret(s), nil
}

// encodeKey returns the secret of a key parseKey(chain, …) returned, in its
// file encoding.
func encodeKey(chain string, s message.Signer) string {
	k, err := kindOf(chain)
	if err != nil {
		return ""
	}
	return k.secret(s)
}
