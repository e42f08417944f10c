package vectors

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/chain"
)

// Signer is the part of a chain account the vector checks use.
type Signer interface {
	Address() string
	Chain() string
	Sign(buf []byte) (string, error)
}

// CheckBuffer checks that the verification buffer built from vec's message
// is the one the SDK recorded, and that the message's signature verifies
// over it. It returns the buffer.
func CheckBuffer(t testing.TB, vec Vector) []byte {
	t.Helper()
	m := vec.Message
	buf := chain.Buffer(m.Chain, m.Sender, m.Type, m.ItemHash)
	if string(buf) != vec.Derived.VerificationBuffer {
		t.Fatalf("Buffer = %q, vector has %q", buf, vec.Derived.VerificationBuffer)
	}
	if got := hex.EncodeToString(buf); got != vec.Derived.VerificationBufferHex {
		t.Fatalf("Buffer hex = %s, vector has %s", got, vec.Derived.VerificationBufferHex)
	}
	if err := chain.Verify(m.Chain, m.Sender, buf, m.Signature); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return buf
}

// CheckResign checks that acc, the account loaded from vec's key, is the
// message's sender on its chain and signs buf exactly as the SDK did. It
// returns the signature.
func CheckResign(t testing.TB, vec Vector, acc Signer, buf []byte) string {
	t.Helper()
	m := vec.Message
	if acc.Address() != m.Sender || acc.Address() != vec.Account.Address {
		t.Fatalf("Address = %s, vector sender %s, account %s", acc.Address(), m.Sender, vec.Account.Address)
	}
	if acc.Chain() != m.Chain {
		t.Fatalf("Chain = %s, vector has %s", acc.Chain(), m.Chain)
	}
	sig, err := acc.Sign(buf)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if sig != m.Signature {
		t.Fatalf("re-signed signature differs from the SDK's:\n got  %s\n want %s", sig, m.Signature)
	}
	return sig
}

// CheckNegatives verifies every tampered message of negative.json for
// chainName. Those that tamper with a signed field (signature, sender,
// item_hash) must fail with chain.ErrInvalidSignature. "content-changed"
// keeps the signed item_hash, so its signature still verifies: rejecting it
// is the message package's hash check, asserted here only to document the
// split. A case of another kind fails the test until it is classified.
func CheckNegatives(t *testing.T, chainName string) {
	for _, c := range Negatives(t, chainName) {
		t.Run(c.Name, func(t *testing.T) {
			m := c.Message
			err := chain.Verify(m.Chain, m.Sender, chain.Buffer(m.Chain, m.Sender, m.Type, m.ItemHash), m.Signature)
			switch {
			case strings.HasSuffix(c.Name, "-content-changed"):
				if err != nil {
					t.Fatalf("signature over the unchanged item_hash must verify (the hash check rejects it): %v", err)
				}
			case strings.HasSuffix(c.Name, "-tampered-signature"),
				strings.HasSuffix(c.Name, "-wrong-sender"),
				strings.HasSuffix(c.Name, "-wrong-item-hash"):
				if !errors.Is(err, chain.ErrInvalidSignature) {
					t.Fatalf("Verify = %v, want ErrInvalidSignature (%s)", err, c.Why)
				}
			default:
				t.Fatalf("unknown negative case %q: classify it", c.Name)
			}
		})
	}
}

// BenchVerify measures v verifying the message of the vector file name.
func BenchVerify(b *testing.B, name string, v chain.Verifier) {
	BenchVerifyTriple(b, v, TripleOf(Load(b, name)[0].Message))
}

// BenchSign measures acc signing the buffer of a POST with the item hash
// of the vector file name.
func BenchSign(b *testing.B, name string, acc Signer) {
	BenchSignHash(b, acc, Load(b, name)[0].Message.ItemHash)
}

// CheckVerify checks that v accepts signature by sender over buf when ok,
// and otherwise rejects it with chain.ErrInvalidSignature.
func CheckVerify(t testing.TB, v chain.Verifier, sender string, buf []byte, signature string, ok bool) {
	t.Helper()
	err := v.Verify(sender, buf, signature)
	if ok && err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !ok && !errors.Is(err, chain.ErrInvalidSignature) {
		t.Fatalf("Verify = %v, want ErrInvalidSignature", err)
	}
}
