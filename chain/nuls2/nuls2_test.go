package nuls2_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/nuls2"
	"github.com/goaleph/goaleph/internal/vectors"
)

func buffer(m vectors.Message) []byte { return chain.Buffer(m.Chain, m.Sender, m.Type, m.ItemHash) }

func TestRegistered(t *testing.T) {
	v, ok := chain.Lookup("NULS2")
	if !ok {
		t.Fatal("NULS2: no verifier registered")
	}
	if _, is := v.(nuls2.Verifier); !is {
		t.Errorf("NULS2: registered verifier is %T", v)
	}
}

func TestReferenceVectors(t *testing.T) {
	for _, vec := range vectors.References(t, "NULS2") {
		t.Run(vec.Name, func(t *testing.T) {
			m := vec.Message
			if sum := sha256.Sum256([]byte(m.ItemContent)); hex.EncodeToString(sum[:]) != m.ItemHash {
				t.Fatalf("item_content does not hash to item_hash")
			}
			if err := chain.Verify(m.Chain, m.Sender, buffer(m), m.Signature); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

// TestReferenceTampered changes the buffer, the sender and the signature of
// each reference vector in one place; every copy must be refused.
func TestReferenceTampered(t *testing.T) {
	for _, vec := range vectors.References(t, "NULS2") {
		m := vec.Message
		raw, err := base64.StdEncoding.DecodeString(m.Signature)
		if err != nil {
			t.Fatal(err)
		}
		flip := func(i int) string {
			b := bytes.Clone(raw)
			b[i] ^= 0x01
			return base64.StdEncoding.EncodeToString(b)
		}
		other, _ := nuls2.NewAccount()
		cases := []struct{ name, sender, hash, sig string }{
			{"item hash changed", m.Sender, strings.Replace(m.ItemHash, "4", "5", 1), m.Signature},
			{"r changed", m.Sender, m.ItemHash, flip(5)},
			{"s changed", m.Sender, m.ItemHash, flip(60)},
			{"header changed", m.Sender, m.ItemHash, flip(0)},
			{"other sender", other.Address(), m.ItemHash, m.Signature},
			{"sender in lower case", strings.ToLower(m.Sender), m.ItemHash, m.Signature},
			{"truncated", m.Sender, m.ItemHash, base64.StdEncoding.EncodeToString(raw[:64])},
			{"hex instead of base64", m.Sender, m.ItemHash, hex.EncodeToString(raw)},
			{"empty", m.Sender, m.ItemHash, ""},
		}
		for _, c := range cases {
			t.Run(vec.Name+"/"+c.name, func(t *testing.T) {
				err := chain.Verify("NULS2", c.sender, chain.Buffer("NULS2", c.sender, m.Type, c.hash), c.sig)
				if !errors.Is(err, chain.ErrInvalidSignature) {
					t.Fatalf("Verify = %v, want ErrInvalidSignature", err)
				}
			})
		}
	}
}

// TestBase64AsPython checks the lenient decoding pyaleph applies to the
// signature field (base64.b64decode without validate).
func TestBase64AsPython(t *testing.T) {
	m := vectors.References(t, "NULS2")[0].Message
	sig := m.Signature
	accepted := map[string]string{
		"newline inside":     sig[:20] + "\n" + sig[20:],
		"spaces around":      " " + sig + " ",
		"junk after padding": sig + "AAAA",
		"non-alphabet chars": strings.Replace(sig, "Q", "Q!", 1),
	}
	for name, s := range accepted {
		if err := (nuls2.Verifier{}).Verify(m.Sender, buffer(m), s); err != nil {
			t.Errorf("%s: Verify = %v, want nil (Python decodes it)", name, err)
		}
	}
	refused := map[string]string{
		"padding missing": strings.TrimRight(sig, "="),
		"non-ASCII":       sig[:10] + "é" + sig[10:],
		"url alphabet":    strings.NewReplacer("+", "-", "/", "_").Replace(sig),
	}
	for name, s := range refused {
		if s == sig {
			continue
		}
		if err := (nuls2.Verifier{}).Verify(m.Sender, buffer(m), s); !errors.Is(err, chain.ErrInvalidSignature) {
			t.Errorf("%s: Verify = %v, want ErrInvalidSignature", name, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	acc, err := nuls2.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(acc.Address(), "NULSd") {
		t.Fatalf("address %q does not start with NULSd", acc.Address())
	}
	for _, n := range []int{0, 1, 252, 253, 300, 0xffff, 0x10000} {
		buf := bytes.Repeat([]byte{'a'}, n)
		sig, err := acc.Sign(buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := chain.Verify("NULS2", acc.Address(), buf, sig); err != nil {
			t.Fatalf("len %d: Verify: %v", n, err)
		}
		if err := chain.Verify("NULS2", acc.Address(), append(buf, 'b'), sig); err == nil {
			t.Fatalf("len %d: signature verifies over another buffer", n)
		}
	}
	again, err := nuls2.AccountFromSecret(acc.Secret())
	if err != nil {
		t.Fatal(err)
	}
	if again.Address() != acc.Address() {
		t.Fatalf("AccountFromSecret(Secret()) address %s, want %s", again.Address(), acc.Address())
	}
	buf := chain.Buffer("NULS2", acc.Address(), "POST", strings.Repeat("ab", 32))
	s1, _ := acc.Sign(buf)
	s2, _ := again.Sign(buf)
	if s1 != s2 {
		t.Fatalf("signatures are not deterministic: %s vs %s", s1, s2)
	}
}

// TestKnownKey checks that the account, Address and ChainID agree on a
// fixed key, on both known networks, and that an unknown chain id has no
// address. (Equality with the TypeScript SDK's address and signature for
// the same key is checked by the compat suite.)
func TestKnownKey(t *testing.T) {
	acc, err := nuls2.AccountFromSecret("0x" + strings.Repeat("11", 32))
	if err != nil {
		t.Fatal(err)
	}
	pub := crypto.CompressPubkey(&mustKey(t, strings.Repeat("11", 32)).PublicKey)
	if got := nuls2.Address(pub, nuls2.MainnetChainID); got != acc.Address() {
		t.Fatalf("Address = %s, account says %s", got, acc.Address())
	}
	id, err := nuls2.ChainID(acc.Address())
	if err != nil || id != 1 {
		t.Fatalf("ChainID = %d, %v; want 1", id, err)
	}
	if got := nuls2.Address(pub, nuls2.TestnetChainID); !strings.HasPrefix(got, "tNULSe") {
		t.Fatalf("testnet address %q does not start with tNULSe", got)
	}
	if got := nuls2.Address(pub, 3); got != "" {
		t.Fatalf("Address on unknown chain = %q, want empty", got)
	}
}

func TestTestnetSender(t *testing.T) {
	key := mustKey(t, strings.Repeat("22", 32))
	addr := nuls2.Address(crypto.CompressPubkey(&key.PublicKey), nuls2.TestnetChainID)
	buf := chain.Buffer("NULS2", addr, "POST", strings.Repeat("cd", 32))
	sig, err := crypto.Sign(nuls2.Digest(buf), key)
	if err != nil {
		t.Fatal(err)
	}
	field := base64.StdEncoding.EncodeToString(append([]byte{sig[64] + 27}, sig[:64]...))
	if err := chain.Verify("NULS2", addr, buf, field); err != nil {
		t.Fatalf("testnet Verify: %v", err)
	}
	compressed := base64.StdEncoding.EncodeToString(append([]byte{sig[64] + 31}, sig[:64]...))
	if err := chain.Verify("NULS2", addr, buf, compressed); !errors.Is(err, chain.ErrInvalidSignature) {
		t.Fatalf("compressed-flag header: Verify = %v, want ErrInvalidSignature (the reference refuses it)", err)
	}
}

func TestAccountFromSecretErrors(t *testing.T) {
	for _, s := range []string{"", "zz", strings.Repeat("00", 32), strings.Repeat("ff", 32), strings.Repeat("11", 31)} {
		if _, err := nuls2.AccountFromSecret(s); err == nil {
			t.Errorf("AccountFromSecret(%q) succeeded", s)
		}
	}
}

func mustKey(t *testing.T, h string) *ecdsa.PrivateKey {
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
	for _, vec := range vectors.References(f, "NULS2") {
		valid = append(valid, triple{vec.Message.Sender, buffer(vec.Message), vec.Message.Signature})
	}
	for _, v := range valid {
		f.Add(v.sender, v.buffer, v.signature)
		f.Add(v.sender, v.buffer, v.signature[:40])
		f.Add("tNULSe"+v.sender[5:], v.buffer, v.signature)
	}
	f.Add("NULS", []byte{}, "")
	f.Add("tNULS1", []byte("x"), "====")
	var verifier nuls2.Verifier
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
		// Anything accepted must recover, with the strict decoder, to sender.
		raw, derr := base64.StdEncoding.DecodeString(signature)
		if derr != nil {
			return // lenient forms are covered by TestBase64AsPython
		}
		sig := append(bytes.Clone(raw[1:]), raw[0]-27)
		pub, rerr := crypto.SigToPub(nuls2.Digest(buffer), sig)
		if rerr != nil {
			t.Fatalf("accepted a signature that does not recover: %v", rerr)
		}
		id, _ := nuls2.ChainID(sender)
		if nuls2.Address(crypto.CompressPubkey(pub), id) != sender {
			t.Fatalf("accepted a signature by another key for %q", sender)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	m := vectors.References(b, "NULS2")[0].Message
	buf := buffer(m)
	var v nuls2.Verifier
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(m.Sender, buf, m.Signature); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	acc, err := nuls2.AccountFromSecret(strings.Repeat("11", 32))
	if err != nil {
		b.Fatal(err)
	}
	buf := chain.Buffer("NULS2", acc.Address(), "POST", strings.Repeat("ab", 32))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := acc.Sign(buf); err != nil {
			b.Fatal(err)
		}
	}
}
