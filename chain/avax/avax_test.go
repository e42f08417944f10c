package avax_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
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

func TestRegistered(t *testing.T) {
	v, ok := chain.Lookup("AVAX")
	if !ok {
		t.Fatal("AVAX: no verifier registered")
	}
	if _, is := v.(avax.Verifier); !is {
		t.Errorf("AVAX: registered verifier is %T", v)
	}
}

func TestReferenceVectors(t *testing.T) {
	for _, vec := range vectors.References(t, "AVAX") {
		t.Run(vec.Name, func(t *testing.T) {
			m := vec.Message
			if sum := sha256.Sum256([]byte(m.ItemContent)); hex.EncodeToString(sum[:]) != m.ItemHash {
				t.Fatalf("item_content does not hash to item_hash")
			}
			if err := chain.Verify(m.Chain, m.Sender, buffer(m), m.Signature); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// Trailing white space is stripped by the reference's base58.
			if err := chain.Verify(m.Chain, m.Sender, buffer(m), m.Signature+" \n"); err != nil {
				t.Fatalf("Verify with trailing space: %v", err)
			}
		})
	}
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
		flip := func(i int) string {
			b := bytes.Clone(sig)
			b[i] ^= 0x01
			return avax.EncodeCB58(b)
		}
		raw, _ := base58.Decode(m.Signature)
		badSum := bytes.Clone(raw)
		badSum[len(badSum)-1] ^= 0x01
		other, _ := avax.NewAccount()
		cases := []struct{ name, sender, hash, sig string }{
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
		}
		for _, c := range cases {
			t.Run(vec.Name+"/"+c.name, func(t *testing.T) {
				err := chain.Verify("AVAX", c.sender, chain.Buffer("AVAX", c.sender, m.Type, c.hash), c.sig)
				if !errors.Is(err, chain.ErrInvalidSignature) {
					t.Fatalf("Verify = %v, want ErrInvalidSignature", err)
				}
			})
		}
	}
}

func TestRoundTrip(t *testing.T) {
	acc, err := avax.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(acc.Address(), "X-avax1") {
		t.Fatalf("address %q does not start with X-avax1", acc.Address())
	}
	for _, n := range []int{0, 1, 300, 0x10000} {
		buf := bytes.Repeat([]byte{'a'}, n)
		sig, err := acc.Sign(buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := chain.Verify("AVAX", acc.Address(), buf, sig); err != nil {
			t.Fatalf("len %d: Verify: %v", n, err)
		}
		if err := chain.Verify("AVAX", acc.Address(), append(buf, 'b'), sig); err == nil {
			t.Fatalf("len %d: signature verifies over another buffer", n)
		}
	}
	for _, secret := range []string{acc.Secret(), hexSecret(t, acc.Secret())} {
		again, err := avax.AccountFromSecret(secret)
		if err != nil {
			t.Fatalf("AccountFromSecret(%q): %v", secret, err)
		}
		if again.Address() != acc.Address() {
			t.Fatalf("AccountFromSecret address %s, want %s", again.Address(), acc.Address())
		}
		buf := chain.Buffer("AVAX", acc.Address(), "POST", strings.Repeat("ab", 32))
		s1, _ := acc.Sign(buf)
		s2, _ := again.Sign(buf)
		if s1 != s2 {
			t.Fatalf("signatures are not deterministic: %s vs %s", s1, s2)
		}
	}
	// A P-chain address of the same key verifies too: the chain part is
	// taken from the sender.
	pub := crypto.CompressPubkey(&mustKey(t, hexSecret(t, acc.Secret())).PublicKey)
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
	acc, err := avax.AccountFromSecret(strings.Repeat("11", 32))
	if err != nil {
		t.Fatal(err)
	}
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

func mustKey(t testing.TB, h string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.HexToECDSA(h)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func FuzzVerify(f *testing.F) {
	type triple struct {
		sender    string
		buffer    []byte
		signature string
	}
	var valid []triple
	for _, vec := range vectors.References(f, "AVAX") {
		valid = append(valid, triple{vec.Message.Sender, buffer(vec.Message), vec.Message.Signature})
	}
	for _, v := range valid {
		f.Add(v.sender, v.buffer, v.signature)
		f.Add(v.sender, v.buffer, v.signature[:40])
		f.Add("P"+v.sender[1:], v.buffer, v.signature)
	}
	f.Add("-1", []byte{}, "")
	f.Add("X-", []byte("x"), "1111")
	var verifier avax.Verifier
	f.Fuzz(func(t *testing.T, sender string, buffer []byte, signature string) {
		err := verifier.Verify(sender, buffer, signature)
		if err != nil && !errors.Is(err, chain.ErrInvalidSignature) {
			t.Fatalf("error does not wrap ErrInvalidSignature: %v", err)
		}
		for _, v := range valid {
			if sender == v.sender && bytes.Equal(buffer, v.buffer) && signature == v.signature && err != nil {
				t.Fatalf("valid vector rejected: %v", err)
			}
		}
		if err != nil {
			return
		}
		// Anything accepted must recover to sender's key.
		sig, derr := avax.DecodeCB58(strings.TrimRight(signature, " \t\n\r\v\f"))
		if derr != nil {
			return // Unicode trailing space: covered by the verifier's own trim
		}
		pub, rerr := crypto.SigToPub(avax.Digest(buffer), sig)
		if rerr != nil {
			t.Fatalf("accepted a signature that does not recover: %v", rerr)
		}
		chainID, _, _ := strings.Cut(sender, "-")
		if addr, _ := avax.Address(chainID, crypto.CompressPubkey(pub)); addr != sender {
			t.Fatalf("accepted a signature by another key for %q", sender)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	m := vectors.References(b, "AVAX")[0].Message
	buf := buffer(m)
	var v avax.Verifier
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(m.Sender, buf, m.Signature); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	acc, err := avax.AccountFromSecret(strings.Repeat("11", 32))
	if err != nil {
		b.Fatal(err)
	}
	buf := chain.Buffer("AVAX", acc.Address(), "POST", strings.Repeat("ab", 32))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := acc.Sign(buf); err != nil {
			b.Fatal(err)
		}
	}
}
