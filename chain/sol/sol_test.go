package sol_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"unicode"

	"github.com/mr-tron/base58"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/sol"
	"github.com/goaleph/goaleph/internal/vectors"
)

// The Solana message of pyaleph's tests/chains/test_solana.py (core-node
// spec §3.3), signed by an older SDK that put spaces after the colons.
const (
	realHash   = "6dc1b023dd1e64d28037f49a921412b3e04cf7b2b3d2537c6ae0ad2c239eae3f"
	realSender = "AzfsDdCQp8uqzR4ProJ7yyLGKNp9iXHt92rEoiAHG4Pw"
	realSig    = `{"signature": "56hzHaJHH3bz1DtU6Wjhyn7eLsMCYSY4HcXkKrpwAdEHFdw7k95NPzubR3x7otstbr5JCffw81Qqpd9YUq8XJuFi","publicKey": "AzfsDdCQp8uqzR4ProJ7yyLGKNp9iXHt92rEoiAHG4Pw"}`
)

// realBad are pyaleph's test_solana_bad_signature cases for the same message.
var realBad = []struct{ name, signature string }{
	{"bad signature field", `{"signature": "bad-signature","publicKey": "AzfsDdCQp8uqzR4ProJ7yyLGKNp9iXHt92rEoiAHG4Pw"}`},
	{"corrupted last base58 char", `{"signature": "56hzHaJHH3bz1DtU6Wjhyn7eLsMCYSY4HcXkKrpwAdEHFdw7k95NPzubR3x7otstbr5JCffw81Qqpd9YUq8XJuFj","publicKey": "AzfsDdCQp8uqzR4ProJ7yyLGKNp9iXHt92rEoiAHG4Pw"}`},
	{"wrong publicKey", `{"signature": "56hzHaJHH3bz1DtU6Wjhyn7eLsMCYSY4HcXkKrpwAdEHFdw7k95NPzubR3x7otstbr5JCffw81Qqpd9YUq8XJuFj","publicKey": "BzfsDdCQp8uqzR4ProJ7yyLGKNp9iXHt92rEoiAHG4Pw"}`},
	{"non-JSON", `{{{{{`},
	{"bare signature", `56hzHaJHH3bz1DtU6Wjhyn7eLsMCYSY4HcXkKrpwAdEHFdw7k95NPzubR3x7otstbr5JCffw81Qqpd9YUq8XJuFj`},
}

func realBuffer() []byte { return chain.Buffer("SOL", realSender, "POST", realHash) }

func TestRegistered(t *testing.T) {
	for _, name := range []string{"SOL", "ES"} {
		v, ok := chain.Lookup(name)
		if !ok {
			t.Fatalf("%s: no verifier registered", name)
		}
		if _, isSol := v.(sol.Verifier); !isSol {
			t.Errorf("%s: registered verifier is %T", name, v)
		}
	}
}

func TestVectors(t *testing.T) {
	for _, vec := range vectors.Load(t, "sol-*.json") {
		t.Run(vec.Name, func(t *testing.T) {
			m := vec.Message
			buf := vectors.CheckBuffer(t, vec)

			acc, err := sol.AccountFromBase58(vec.Account.SecretKeyBase58)
			if err != nil {
				t.Fatalf("AccountFromBase58: %v", err)
			}
			if acc.SecretBase58() != vec.Account.SecretKeyBase58 {
				t.Fatalf("SecretBase58 = %s, vector has %s", acc.SecretBase58(), vec.Account.SecretKeyBase58)
			}
			sig := vectors.CheckResign(t, vec, acc, buf)

			// The raw values the generator recorded.
			var parsed struct{ Signature, PublicKey string }
			if err := json.Unmarshal([]byte(sig), &parsed); err != nil {
				t.Fatal(err)
			}
			raw, _ := base58.Decode(parsed.Signature)
			if got := hex.EncodeToString(raw); got != vec.Derived.SignatureBytesHex {
				t.Fatalf("raw signature %s, vector has %s", got, vec.Derived.SignatureBytesHex)
			}
			pub, _ := base58.Decode(acc.Address())
			if got := hex.EncodeToString(pub); got != vec.Derived.PublicKeyHex || got != vec.Account.PublicKeyHex {
				t.Fatalf("public key %s, vector has %s", got, vec.Derived.PublicKeyHex)
			}

			secret, err := hex.DecodeString(vec.Account.SecretKeyHex)
			if err != nil || len(secret) != 64 {
				t.Fatalf("vector secret_key_hex: %v", err)
			}
			fromSeed, err := sol.AccountFromSeed(secret[:32])
			if err != nil {
				t.Fatal(err)
			}
			if fromSeed.Address() != m.Sender {
				t.Fatalf("AccountFromSeed address %s, want %s", fromSeed.Address(), m.Sender)
			}
		})
	}
}

// TestNegative checks the tampered SOL messages of negative.json (see
// vectors.CheckNegatives for why content-changed still verifies).
func TestNegative(t *testing.T) { vectors.CheckNegatives(t, "SOL") }

func TestRealNetwork(t *testing.T) {
	if err := chain.Verify("SOL", realSender, realBuffer(), realSig); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	for _, tc := range realBad {
		t.Run(tc.name, func(t *testing.T) {
			if err := chain.Verify("SOL", realSender, realBuffer(), tc.signature); !errors.Is(err, chain.ErrInvalidSignature) {
				t.Fatalf("Verify = %v, want ErrInvalidSignature", err)
			}
		})
	}
}

// sigJSON builds a signature field from raw parts.
func sigJSON(sig, key string) string {
	return `{"signature":"` + sig + `","publicKey":"` + key + `"}`
}

func TestSignatureForms(t *testing.T) {
	vec := vectors.Load(t, "sol-post.json")[0]
	m := vec.Message
	buf := chain.Buffer(m.Chain, m.Sender, m.Type, m.ItemHash)
	key := m.Sender
	var parts struct{ Signature string }
	if err := json.Unmarshal([]byte(m.Signature), &parts); err != nil {
		t.Fatal(err)
	}
	sig := parts.Signature
	raw, _ := base58.Decode(sig)

	// s + L is the same scalar in a non-canonical form: crypto/ed25519 and
	// libsodium both reject it.
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	sLE := bytes.Clone(raw[32:])
	reverse(sLE)
	sPlusL := new(big.Int).Add(new(big.Int).SetBytes(sLE), l).FillBytes(make([]byte, 32))
	reverse(sPlusL)
	nonCanonicalS := base58.Encode(append(bytes.Clone(raw[:32]), sPlusL...))

	flipped := bytes.Clone(raw)
	flipped[10] ^= 1

	tests := []struct {
		name, sender, signature string
		ok                      bool
	}{
		{"as sent", key, m.Signature, true},
		{"spaces after colons", key, `{"signature": "` + sig + `", "publicKey": "` + key + `"}`, true},
		{"keys reversed", key, `{"publicKey":"` + key + `","signature":"` + sig + `"}`, true},
		{"surrounding white space", key, " \n" + m.Signature + "\t ", true},
		{"extra member", key, `{"signature":"` + sig + `","publicKey":"` + key + `","foo":[1,{"a":null}]}`, true},
		{"version 1", key, `{"signature":"` + sig + `","publicKey":"` + key + `","version":1}`, true},
		{"version 1.0", key, `{"signature":"` + sig + `","publicKey":"` + key + `","version":1.0}`, true},
		{"version 1e0", key, `{"signature":"` + sig + `","publicKey":"` + key + `","version":1e0}`, true},
		{"version true (Python True == 1)", key, `{"signature":"` + sig + `","publicKey":"` + key + `","version":true}`, true},
		{"duplicate signature, last good", key, `{"signature":"x","signature":"` + sig + `","publicKey":"` + key + `"}`, true},
		{"escaped characters", key, `{"signature":"` + sig[:3] + `\u00` + hex.EncodeToString([]byte{sig[3]}) + sig[4:] + `","publicKey":"` + key + `"}`, true},
		{"trailing white space in signature", key, sigJSON(sig+` \n\t\u001f\u00a0`, key), true},
		{"trailing space in sender and publicKey", key + " ", sigJSON(sig, key+" "), true},

		{"version 2", key, `{"signature":"` + sig + `","publicKey":"` + key + `","version":2}`, false},
		{"version 0", key, `{"signature":"` + sig + `","publicKey":"` + key + `","version":0}`, false},
		{"version string", key, `{"signature":"` + sig + `","publicKey":"` + key + `","version":"1"}`, false},
		{"version null", key, `{"signature":"` + sig + `","publicKey":"` + key + `","version":null}`, false},
		{"version false", key, `{"signature":"` + sig + `","publicKey":"` + key + `","version":false}`, false},
		{"version [1]", key, `{"signature":"` + sig + `","publicKey":"` + key + `","version":[1]}`, false},
		{"duplicate signature, last bad", key, `{"signature":"` + sig + `","signature":"x","publicKey":"` + key + `"}`, false},
		{"key names in another case", key, `{"Signature":"` + sig + `","PublicKey":"` + key + `"}`, false},
		{"missing publicKey", key, `{"signature":"` + sig + `"}`, false},
		{"missing signature", key, `{"publicKey":"` + key + `"}`, false},
		{"signature not a string", key, `{"signature":12,"publicKey":"` + key + `"}`, false},
		{"publicKey not a string", key, `{"signature":"` + sig + `","publicKey":null}`, false},
		{"JSON array", key, `["` + sig + `","` + key + `"]`, false},
		{"JSON null", key, `null`, false},
		{"JSON string", key, `"` + sig + `"`, false},
		{"empty", key, ``, false},
		{"trailing garbage", key, m.Signature + "x", false},
		{"leading space in signature", key, sigJSON(" "+sig, key), false},
		{"publicKey differs from sender by case", strings.ToLower(key), m.Signature, false},
		{"sender with trailing space only", key + " ", m.Signature, false},
		{"flipped signature bit", key, sigJSON(base58.Encode(flipped), key), false},
		{"non-canonical s", key, sigJSON(nonCanonicalS, key), false},
		{"63-byte signature", key, sigJSON(base58.Encode(raw[:63]), key), false},
		{"65-byte signature", key, sigJSON(base58.Encode(append(bytes.Clone(raw), 0)), key), false},
		{"signature with leading zero byte", key, sigJSON("1"+sig, key), false},
		{"empty signature", key, sigJSON("", key), false},
		{"31-byte public key", "11111111111111111111111111111111", sigJSON(sig, "11111111111111111111111111111111"), false},
		{"non-base58 signature", key, sigJSON(sig[:40]+"0"+sig[41:], key), false},
		{"EVM-style hex signature", key, "0x" + hex.EncodeToString(raw), false},
	}
	// The buffer stays the signed one: only the sender and the signature
	// field vary.
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vectors.CheckVerify(t, sol.Verifier{}, tc.sender, buf, tc.signature, tc.ok)
		})
	}
}

func reverse(b []byte) {
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
}

// TestWeakKeys checks the libsodium checks crypto/ed25519 lacks: with the
// identity as public key and R, s = 0, every message "verifies" under
// crypto/ed25519, but libsodium (and so pyaleph) refuses it.
func TestWeakKeys(t *testing.T) {
	identity := make([]byte, 32)
	identity[0] = 1
	forged := append(bytes.Clone(identity), make([]byte, 32)...)
	msg := []byte("SOL\nx\nPOST\nanything")
	if !ed25519.Verify(identity, msg, forged) {
		t.Fatal("precondition: crypto/ed25519 accepts the identity forgery")
	}
	key := base58.Encode(identity)
	if err := (sol.Verifier{}).Verify(key, msg, sigJSON(base58.Encode(forged), key)); !errors.Is(err, chain.ErrInvalidSignature) {
		t.Fatalf("identity-key forgery: Verify = %v, want ErrInvalidSignature", err)
	}

	// With the identity as public key, R = B and s = 1 also satisfies
	// crypto/ed25519 for every message; only the public-key check stops it.
	baseR := []byte{0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
		0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66}
	one := make([]byte, 32)
	one[0] = 1
	forgedB := append(bytes.Clone(baseR), one...)
	if !ed25519.Verify(identity, msg, forgedB) {
		t.Fatal("precondition: crypto/ed25519 accepts the identity forgery with R = B")
	}
	// p+1 is a non-canonical encoding of the identity that crypto/ed25519
	// also decodes.
	pPlus1 := bytes.Repeat([]byte{0xff}, 32)
	pPlus1[0], pPlus1[31] = 0xee, 0x7f
	if !ed25519.Verify(pPlus1, msg, forgedB) {
		t.Fatal("precondition: crypto/ed25519 accepts a non-canonical identity key")
	}
	for _, weak := range [][]byte{identity, pPlus1} {
		k := base58.Encode(weak)
		if err := (sol.Verifier{}).Verify(k, msg, sigJSON(base58.Encode(forgedB), k)); !errors.Is(err, chain.ErrInvalidSignature) {
			t.Fatalf("weak key %x with R = B: Verify = %v, want ErrInvalidSignature", weak, err)
		}
	}

	// A genuine signature made with a real key but a small-order R cannot
	// exist, so check that a valid signature still passes the R check and
	// that a small-order R is refused before verification.
	acc, err := sol.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	sigField, _ := acc.Sign(msg)
	if err := (sol.Verifier{}).Verify(acc.Address(), msg, sigField); err != nil {
		t.Fatalf("fresh account: %v", err)
	}
	smallR := append(bytes.Clone(identity), make([]byte, 32)...)
	if err := (sol.Verifier{}).Verify(acc.Address(), msg, sigJSON(base58.Encode(smallR), acc.Address())); !errors.Is(err, chain.ErrInvalidSignature) {
		t.Fatalf("small-order R: Verify = %v", err)
	}
}

func TestES(t *testing.T) {
	acc, err := sol.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	buf := chain.Buffer("ES", acc.Address(), "AGGREGATE", strings.Repeat("ef", 32))
	sig, err := acc.Sign(buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := chain.Verify("ES", acc.Address(), buf, sig); err != nil {
		t.Fatalf("Verify ES: %v", err)
	}
	if err := chain.Verify("SOL", acc.Address(), chain.Buffer("SOL", acc.Address(), "AGGREGATE", strings.Repeat("ef", 32)), sig); !errors.Is(err, chain.ErrInvalidSignature) {
		t.Fatalf("ES signature replayed as SOL: %v", err)
	}
}

func TestAccount(t *testing.T) {
	acc, err := sol.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	again, err := sol.AccountFromBase58(acc.SecretBase58())
	if err != nil {
		t.Fatalf("AccountFromBase58(SecretBase58()): %v", err)
	}
	vectors.CheckSameSigner(t, acc, again)
	buf := chain.Buffer("SOL", acc.Address(), "POST", strings.Repeat("ab", 32))
	s1, _ := acc.Sign(buf)
	s2, _ := again.Sign(buf)
	if s1 != s2 {
		t.Fatal("ed25519 signing is not deterministic")
	}
	if !strings.HasPrefix(s1, `{"signature":"`) || !strings.HasSuffix(s1, `","publicKey":"`+acc.Address()+`"}`) {
		t.Fatalf("Sign = %s", s1)
	}

	secret, _ := base58.Decode(acc.SecretBase58())
	mismatched := bytes.Clone(secret)
	mismatched[40] ^= 1
	for _, bad := range []string{"", "0OIl", base58.Encode(secret[:32]), base58.Encode(append(secret, 0)), base58.Encode(mismatched)} {
		if _, err := sol.AccountFromBase58(bad); err == nil {
			t.Errorf("AccountFromBase58(%q) succeeded", bad)
		}
	}
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := sol.AccountFromSeed(make([]byte, n)); err == nil {
			t.Errorf("AccountFromSeed(%d bytes) succeeded", n)
		}
	}
}

func TestGarbageNeverPanics(t *testing.T) {
	inputs := []string{
		"", "{", "}", "{}", "[]", "null", "true", "0", `""`, `{"signature":null,"publicKey":null}`,
		`{"signature":"","publicKey":""}`, `{"signature":"1","publicKey":"1"}`,
		sigJSON(strings.Repeat("1", 64), strings.Repeat("1", 32)), sigJSON(strings.Repeat("z", 200), realSender),
		sigJSON("\x00", realSender), sigJSON("é", "é"), "\xff\xfe", strings.Repeat("[", 10000),
		`{"signature":"` + strings.Repeat("2", 1<<14) + `","publicKey":"x"}`,
	}
	for _, in := range inputs {
		for _, s := range []string{realSender, "", "1", strings.Repeat("1", 32)} {
			if err := (sol.Verifier{}).Verify(s, realBuffer(), in); err == nil {
				t.Errorf("Verify(%q, %q) succeeded", s, in)
			}
		}
	}
}

func FuzzVerify(f *testing.F) {
	valid := []vectors.Triple{{Sender: realSender, Buffer: realBuffer(), Signature: realSig}}
	for _, vec := range vectors.Load(f, "sol-*.json") {
		valid = append(valid, vectors.TripleOf(vec.Message))
	}
	for _, c := range vectors.Negatives(f, "SOL") {
		in := vectors.TripleOf(c.Message)
		f.Add(in.Sender, in.Buffer, in.Signature)
	}
	for _, b := range realBad {
		f.Add(realSender, realBuffer(), b.signature)
	}
	f.Add(realSender, realBuffer(), strings.Replace(realSig, "}", `,"version":1}`, 1))

	vectors.FuzzVerifier(f, sol.Verifier{}, valid, func(t *testing.T, in vectors.Triple, err error) {
		if err != nil {
			return
		}
		sender, signature := in.Sender, in.Signature
		// Anything accepted must be a genuine ed25519 signature by sender.
		var fields map[string]string
		if jerr := json.Unmarshal([]byte(signature), &fields); jerr != nil {
			// Other members may be non-strings; fall back to the two we need.
			var two struct {
				Signature string `json:"signature"`
				PublicKey string `json:"publicKey"`
			}
			if jerr := json.Unmarshal([]byte(signature), &two); jerr != nil {
				t.Fatalf("accepted a signature that is not a JSON object: %q", signature)
			}
			fields = map[string]string{"signature": two.Signature, "publicKey": two.PublicKey}
		}
		if fields["publicKey"] != sender {
			t.Fatalf("accepted publicKey %q for sender %q", fields["publicKey"], sender)
		}
		key, _ := base58.Decode(strings.TrimRightFunc(sender, pySpace))
		sig, _ := base58.Decode(strings.TrimRightFunc(fields["signature"], pySpace))
		if len(key) != 32 || len(sig) != 64 || !ed25519.Verify(key, in.Buffer, sig) {
			t.Fatalf("accepted a signature crypto/ed25519 rejects: %q", signature)
		}
	})
}

func pySpace(r rune) bool { return unicode.IsSpace(r) || (0x1c <= r && r <= 0x1f) }

func BenchmarkVerify(b *testing.B) { vectors.BenchVerify(b, "sol-post.json", sol.Verifier{}) }

// BenchmarkEd25519 is the bare crypto/ed25519 verification inside Verify,
// to show what JSON and base58 decoding cost on top.
func BenchmarkEd25519(b *testing.B) {
	vec := vectors.Load(b, "sol-post.json")[0]
	m := vec.Message
	buf := chain.Buffer(m.Chain, m.Sender, m.Type, m.ItemHash)
	key, _ := hex.DecodeString(vec.Derived.PublicKeyHex)
	sig, _ := hex.DecodeString(vec.Derived.SignatureBytesHex)
	for b.Loop() {
		if !ed25519.Verify(key, buf, sig) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkSign(b *testing.B) {
	vec := vectors.Load(b, "sol-post.json")[0]
	acc, err := sol.AccountFromBase58(vec.Account.SecretKeyBase58)
	if err != nil {
		b.Fatal(err)
	}
	vectors.BenchSign(b, "sol-post.json", acc)
}
