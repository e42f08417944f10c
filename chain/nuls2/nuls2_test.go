package nuls2_test

import (
	"bytes"
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

func TestRegistered(t *testing.T) { vectors.CheckRegistered(t, "NULS2", nuls2.Verifier{}) }

func TestReferenceVectors(t *testing.T) { vectors.CheckReferences(t, "NULS2", nil) }

// TestReferenceTampered changes the buffer, the sender and the signature of
// each reference vector in one place; every copy must be refused.
func TestReferenceTampered(t *testing.T) {
	for _, vec := range vectors.References(t, "NULS2") {
		m := vec.Message
		raw, err := base64.StdEncoding.DecodeString(m.Signature)
		if err != nil {
			t.Fatal(err)
		}
		flip := func(i int) string { return base64.StdEncoding.EncodeToString(vectors.Flip(raw, i)) }
		other, _ := nuls2.NewAccount()
		vectors.CheckTampered(t, vec.Name, m, []vectors.Tamper{
			{"item hash changed", m.Sender, strings.Replace(m.ItemHash, "4", "5", 1), m.Signature},
			{"r changed", m.Sender, m.ItemHash, flip(5)},
			{"s changed", m.Sender, m.ItemHash, flip(60)},
			{"header changed", m.Sender, m.ItemHash, flip(0)},
			{"other sender", other.Address(), m.ItemHash, m.Signature},
			{"sender in lower case", strings.ToLower(m.Sender), m.ItemHash, m.Signature},
			{"truncated", m.Sender, m.ItemHash, base64.StdEncoding.EncodeToString(raw[:64])},
			{"hex instead of base64", m.Sender, m.ItemHash, hex.EncodeToString(raw)},
			{"empty", m.Sender, m.ItemHash, ""},
		})
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
	acc := vectors.CheckNew(t, nuls2.NewAccount, "NULSd")
	vectors.CheckLengths(t, acc, 0, 1, 252, 253, 300, 0xffff, 0x10000)
	again, err := nuls2.AccountFromSecret(acc.Secret())
	if err != nil {
		t.Fatal(err)
	}
	vectors.CheckSameSigner(t, acc, again)
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
	pub := crypto.CompressPubkey(&vectors.Secp256k1Key(t, strings.Repeat("11", 32)).PublicKey)
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
	key := vectors.Secp256k1Key(t, strings.Repeat("22", 32))
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

func FuzzVerify(f *testing.F) {
	f.Add("NULS", []byte{}, "")
	f.Add("tNULS1", []byte("x"), "====")
	vectors.FuzzReferences(f, "NULS2", nuls2.Verifier{}, func(s string) string { return "tNULSe" + s[5:] }, func(t *testing.T, in vectors.Triple) {
		// Anything accepted must recover, with the strict decoder, to sender.
		raw, derr := base64.StdEncoding.DecodeString(in.Signature)
		if derr != nil {
			return // lenient forms are covered by TestBase64AsPython
		}
		sig := append(bytes.Clone(raw[1:]), raw[0]-27)
		pub, rerr := crypto.SigToPub(nuls2.Digest(in.Buffer), sig)
		if rerr != nil {
			t.Fatalf("accepted a signature that does not recover: %v", rerr)
		}
		id, _ := nuls2.ChainID(in.Sender)
		if nuls2.Address(crypto.CompressPubkey(pub), id) != in.Sender {
			t.Fatalf("accepted a signature by another key for %q", in.Sender)
		}
	})
}

func BenchmarkVerify(b *testing.B) { vectors.BenchReference(b, "NULS2", nuls2.Verifier{}) }

func BenchmarkSign(b *testing.B) {
	acc, err := nuls2.AccountFromSecret(strings.Repeat("11", 32))
	if err != nil {
		b.Fatal(err)
	}
	vectors.BenchSignHash(b, acc, strings.Repeat("ab", 32))
}
