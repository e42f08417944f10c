package avax_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/mr-tron/base58"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/avax"
	_ "github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/internal/vectors"
)

func buffer(m vectors.Message) []byte { return chain.Buffer(m.Chain, m.Sender, m.Type, m.ItemHash) }

func TestRegistered(t *testing.T) { vectors.CheckRegistered(t, "AVAX", avax.Verifier{}) }

func TestReferenceVectors(t *testing.T) {
	vectors.CheckReferences(t, "AVAX", func(t *testing.T, m vectors.Message) {
		// Trailing white space is stripped by the reference's base58.
		if err := chain.Verify(m.Chain, m.Sender, buffer(m), m.Signature+" \n"); err != nil {
			t.Fatalf("Verify with trailing space: %v", err)
		}
	})
}

// TestReferenceTampered changes the buffer, the sender and the signature of
// each reference vector in one place; every copy must be refused.
func TestReferenceTampered(t *testing.T) {
	for _, vec := range vectors.References(t, "AVAX") {
		m := vec.Message
		sig, err := avax.DecodeCB58(m.Signature)
		if err != nil {
			t.Fatal(err)
		}
		flip := func(i int) string { return avax.EncodeCB58(vectors.Flip(sig, i)) }
		raw, _ := base58.Decode(m.Signature)
		badSum := vectors.Flip(raw, len(raw)-1)
		other, _ := avax.NewAccount()
		vectors.CheckTampered(t, vec.Name, m, []vectors.Tamper{
			{"item hash changed", m.Sender, strings.Replace(m.ItemHash, "3", "4", 1), m.Signature},
			{"r changed", m.Sender, m.ItemHash, flip(3)},
			{"s changed", m.Sender, m.ItemHash, flip(40)},
			{"recovery id changed", m.Sender, m.ItemHash, flip(64)},
			{"recovery id out of range", m.Sender, m.ItemHash, avax.EncodeCB58(append(bytes.Clone(sig[:64]), 4))},
			{"checksum broken", m.Sender, m.ItemHash, base58.Encode(badSum)},
			{"no checksum", m.Sender, m.ItemHash, base58.Encode(sig)},
			{"other sender", other.Address(), m.ItemHash, m.Signature},
			{"P-chain sender", "P" + m.Sender[1:], m.ItemHash, m.Signature},
			{"sender in upper case", strings.ToUpper(m.Sender), m.ItemHash, m.Signature},
			{"sender without chain", strings.TrimPrefix(m.Sender, "X-"), m.ItemHash, m.Signature},
			{"bad base58 (pyaleph's case)", m.Sender, m.ItemHash, "baba"},
			{"empty", m.Sender, m.ItemHash, ""},
		})
	}
}

func TestRoundTrip(t *testing.T) {
	acc := vectors.CheckNew(t, avax.NewAccount, "X-avax1")
	vectors.CheckLengths(t, acc, 0, 1, 300, 0x10000)
	for _, secret := range []string{acc.Secret(), hexSecret(t, acc.Secret())} {
		again, err := avax.AccountFromSecret(secret)
		if err != nil {
			t.Fatalf("AccountFromSecret(%q): %v", secret, err)
		}
		vectors.CheckSameSigner(t, acc, again)
	}
	// A P-chain address of the same key verifies too: the chain part is
	// taken from the sender.
	pub := crypto.CompressPubkey(&vectors.Secp256k1Key(t, hexSecret(t, acc.Secret())).PublicKey)
	p, err := avax.Address("P", pub)
	if err != nil {
		t.Fatal(err)
	}
	buf := chain.Buffer("AVAX", p, "POST", strings.Repeat("cd", 32))
	sig, _ := acc.Sign(buf)
	if err := chain.Verify("AVAX", p, buf, sig); err != nil {
		t.Fatalf("P-chain Verify: %v", err)
	}
}

// TestEVM checks the EVM-style form: the same key signs under chain ETH
// with a 0x sender, which chain/eth accepts and the AVAX verifier refuses,
// as pyaleph does.
func TestEVM(t *testing.T) {
	acc := fixedAccount(t)
	evm, err := acc.EVM()
	if err != nil {
		t.Fatal(err)
	}
	if evm.Chain() != "ETH" || !strings.HasPrefix(evm.Address(), "0x") {
		t.Fatalf("EVM signer is %s %s", evm.Chain(), evm.Address())
	}
	buf := chain.Buffer("ETH", evm.Address(), "POST", strings.Repeat("ab", 32))
	sig, err := evm.Sign(buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := chain.Verify("ETH", evm.Address(), buf, sig); err != nil {
		t.Fatalf("ETH Verify: %v", err)
	}
	avaxBuf := chain.Buffer("AVAX", evm.Address(), "POST", strings.Repeat("ab", 32))
	avaxSig, _ := acc.Sign(avaxBuf)
	if err := chain.Verify("AVAX", evm.Address(), avaxBuf, avaxSig); !errors.Is(err, chain.ErrInvalidSignature) {
		t.Fatalf("AVAX with a 0x sender: Verify = %v, want ErrInvalidSignature", err)
	}
}

func TestAccountFromSecretErrors(t *testing.T) {
	for _, s := range []string{"", "zz", "PrivateKey-", "PrivateKey-baba", strings.Repeat("00", 32), strings.Repeat("11", 31)} {
		if _, err := avax.AccountFromSecret(s); err == nil {
			t.Errorf("AccountFromSecret(%q) succeeded", s)
		}
	}
}

func hexSecret(t testing.TB, secret string) string {
	t.Helper()
	b, err := avax.DecodeCB58(strings.TrimPrefix(secret, "PrivateKey-"))
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func FuzzVerify(f *testing.F) {
	f.Add("-1", []byte{}, "")
	f.Add("X-", []byte("x"), "1111")
	vectors.FuzzReferences(f, "AVAX", avax.Verifier{}, func(s string) string { return "P" + s[1:] }, func(t *testing.T, in vectors.Triple) {
		// Anything accepted must recover to sender's key.
		sig, derr := avax.DecodeCB58(strings.TrimRight(in.Signature, " \t\n\r\v\f"))
		if derr != nil {
			return // Unicode trailing space: covered by the verifier's own trim
		}
		pub, rerr := crypto.SigToPub(avax.Digest(in.Buffer), sig)
		if rerr != nil {
			t.Fatalf("accepted a signature that does not recover: %v", rerr)
		}
		chainID, _, _ := strings.Cut(in.Sender, "-")
		if addr, _ := avax.Address(chainID, crypto.CompressPubkey(pub)); addr != in.Sender {
			t.Fatalf("accepted a signature by another key for %q", in.Sender)
		}
	})
}

func BenchmarkVerify(b *testing.B) { vectors.BenchReference(b, "AVAX", avax.Verifier{}) }

func BenchmarkSign(b *testing.B) { vectors.BenchSignHash(b, fixedAccount(b), strings.Repeat("ab", 32)) }

// fixedAccount returns the account of the private key 0x1111….
func fixedAccount(t testing.TB) *avax.Account {
	t.Helper()
	acc, err := avax.AccountFromSecret(strings.Repeat("11", 32))
	if err != nil {
		t.Fatal(err)
	}
	return acc
}
