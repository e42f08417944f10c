package vectors

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/goaleph/goaleph/chain"
)

// Triple is what a verifier is given: a sender, a verification buffer and a
// signature.
type Triple struct {
	Sender    string
	Buffer    []byte
	Signature string
}

// TripleOf returns m's sender, verification buffer and signature.
func TripleOf(m Message) Triple {
	return Triple{m.Sender, chain.Buffer(m.Chain, m.Sender, m.Type, m.ItemHash), m.Signature}
}

// SignTriple returns acc's signature of the buffer of a POST with itemHash.
func SignTriple(t testing.TB, acc Signer, itemHash string) Triple {
	t.Helper()
	buf := chain.Buffer(acc.Chain(), acc.Address(), "POST", itemHash)
	sig, err := acc.Sign(buf)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return Triple{acc.Address(), buf, sig}
}

// FuzzVerifier fuzzes v over (sender, buffer, signature), seeded with valid
// and whatever f was given before. Every error must wrap
// chain.ErrInvalidSignature and every triple of valid must verify; check,
// when not nil, then sees the input and v's verdict.
func FuzzVerifier(f *testing.F, v chain.Verifier, valid []Triple, check func(t *testing.T, in Triple, err error)) {
	for _, in := range valid {
		f.Add(in.Sender, in.Buffer, in.Signature)
	}
	f.Fuzz(func(t *testing.T, sender string, buffer []byte, signature string) {
		err := v.Verify(sender, buffer, signature)
		if err != nil && !errors.Is(err, chain.ErrInvalidSignature) {
			t.Fatalf("error does not wrap ErrInvalidSignature: %v", err)
		}
		for _, in := range valid {
			if sender == in.Sender && bytes.Equal(buffer, in.Buffer) && signature == in.Signature && err != nil {
				t.Fatalf("valid vector rejected: %v", err)
			}
		}
		if check != nil {
			check(t, Triple{sender, buffer, signature}, err)
		}
	})
}

// FuzzReferences is FuzzVerifier seeded with chainName's reference
// vectors, each also with its signature cut to 40 characters and with the
// sender other(sender); accepted, when not nil, sees every input v
// accepts.
func FuzzReferences(f *testing.F, chainName string, v chain.Verifier, other func(sender string) string, accepted func(t *testing.T, in Triple)) {
	var valid []Triple
	for _, vec := range References(f, chainName) {
		in := TripleOf(vec.Message)
		valid = append(valid, in)
		f.Add(in.Sender, in.Buffer, in.Signature[:40])
		f.Add(other(in.Sender), in.Buffer, in.Signature)
	}
	FuzzVerifier(f, v, valid, func(t *testing.T, in Triple, err error) {
		if err == nil && accepted != nil {
			accepted(t, in)
		}
	})
}

// BenchVerifyTriple measures v verifying in.
func BenchVerifyTriple(b *testing.B, v chain.Verifier, in Triple) {
	b.ReportAllocs()
	for b.Loop() {
		if err := v.Verify(in.Sender, in.Buffer, in.Signature); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchReference measures v verifying the first reference vector of
// chainName.
func BenchReference(b *testing.B, chainName string, v chain.Verifier) {
	BenchVerifyTriple(b, v, TripleOf(References(b, chainName)[0].Message))
}

// BenchSignHash measures acc signing the buffer of a POST with itemHash.
func BenchSignHash(b *testing.B, acc Signer, itemHash string) {
	buf := chain.Buffer(acc.Chain(), acc.Address(), "POST", itemHash)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := acc.Sign(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// CheckRegistered checks that the verifier registered for name has want's
// type.
func CheckRegistered(t *testing.T, name string, want chain.Verifier) {
	t.Helper()
	v, ok := chain.Lookup(name)
	if !ok {
		t.Fatalf("%s: no verifier registered", name)
	}
	if reflect.TypeOf(v) != reflect.TypeOf(want) {
		t.Errorf("%s: registered verifier is %T", name, v)
	}
}

// CheckReferences checks, in a subtest per reference vector of chainName,
// that its item_content hashes to its item_hash and that its signature
// verifies; more, when not nil, then checks the message further.
func CheckReferences(t *testing.T, chainName string, more func(t *testing.T, m Message)) {
	for _, vec := range References(t, chainName) {
		t.Run(vec.Name, func(t *testing.T) {
			m := vec.Message
			if sum := sha256.Sum256([]byte(m.ItemContent)); hex.EncodeToString(sum[:]) != m.ItemHash {
				t.Fatalf("item_content does not hash to item_hash")
			}
			in := TripleOf(m)
			if err := chain.Verify(m.Chain, in.Sender, in.Buffer, in.Signature); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if more != nil {
				more(t, m)
			}
		})
	}
}

// Tamper is one changed copy of a signed message: its sender, item hash and
// signature. It is an alias of a struct literal type so that tables of
// cases can leave the field names out.
type Tamper = struct{ Name, Sender, Hash, Sig string }

// Flip returns a copy of b with the lowest bit of byte i flipped.
func Flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// CheckTampered checks, in a subtest per case named prefix/case, that the
// copies of m in cases are refused with chain.ErrInvalidSignature.
func CheckTampered(t *testing.T, prefix string, m Message, cases []Tamper) {
	t.Helper()
	for _, c := range cases {
		t.Run(prefix+"/"+c.Name, func(t *testing.T) {
			err := chain.Verify(m.Chain, c.Sender, chain.Buffer(m.Chain, c.Sender, m.Type, c.Hash), c.Sig)
			if !errors.Is(err, chain.ErrInvalidSignature) {
				t.Fatalf("Verify = %v, want ErrInvalidSignature", err)
			}
		})
	}
}

// CheckNew returns a fresh account from create and checks that its address
// starts with prefix.
func CheckNew[A Signer](t *testing.T, create func() (A, error), prefix string) A {
	t.Helper()
	acc, err := create()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(acc.Address(), prefix) {
		t.Fatalf("address %q does not start with %s", acc.Address(), prefix)
	}
	return acc
}

// CheckLengths checks that acc's signatures of buffers of each length
// verify, and do not verify over the buffer with a byte added.
func CheckLengths(t *testing.T, acc Signer, lengths ...int) {
	t.Helper()
	for _, n := range lengths {
		buf := bytes.Repeat([]byte{'a'}, n)
		sig, err := acc.Sign(buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := chain.Verify(acc.Chain(), acc.Address(), buf, sig); err != nil {
			t.Fatalf("len %d: Verify: %v", n, err)
		}
		if err := chain.Verify(acc.Chain(), acc.Address(), append(buf, 'b'), sig); err == nil {
			t.Fatalf("len %d: signature verifies over another buffer", n)
		}
	}
}

// CheckSameSigner checks that again, an account loaded from acc's secret,
// has acc's address and signs as acc does.
func CheckSameSigner(t *testing.T, acc, again Signer) {
	t.Helper()
	if again.Address() != acc.Address() {
		t.Fatalf("reloaded account's address %s, want %s", again.Address(), acc.Address())
	}
	buf := chain.Buffer(acc.Chain(), acc.Address(), "POST", "ab")
	s1, _ := acc.Sign(buf)
	s2, _ := again.Sign(buf)
	if s1 != s2 {
		t.Fatalf("signatures are not deterministic: %s vs %s", s1, s2)
	}
}

// Secp256k1Key returns the secp256k1 private key written in hex h.
func Secp256k1Key(t testing.TB, h string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.HexToECDSA(h)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
