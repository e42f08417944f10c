package eth_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/crypto"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/internal/vectors"
)

// realNetwork are messages from the public Aleph network quoted in the
// core-node spec §3.3 (pyaleph fixtures).
var realNetwork = []struct {
	name, itemHash, msgType, sender, signature string
}{
	{
		name:      "test_evm POST f524a258",
		itemHash:  "f524a258d87f1771e8538fd4fd91acdcc527c3b7f138fafd6ff89a5fcf97c3b7",
		msgType:   "POST",
		sender:    "0xA07B1214bAe0D5ccAA25449C3149c0aC83658874",
		signature: "0x99efc66c781c889e1f21c680869c832141dcee90189e75e85f570b8b49e72dee0338d77c214ae55bfcb886bbd7bac6dc4dcfda4eb0d2c47ed93d51b36b7259b01c",
	},
	{
		name:      "test-data-posts POST 9f02e3b5",
		itemHash:  "9f02e3b5efdbdc0b487359117ae3af40db654892487feae452689a0b84dc1025",
		msgType:   "POST",
		sender:    "0x696879aE4F6d8DaDD5b8F1cbb1e663B89b08f106",
		signature: "0x271939ae35918d0e90877f2319dd0d9737f8334d52539125743caf2460b3896423ca69b1fc85662443cc0bd4ce91e2fb247d7d8291284d8c431e6962c611c4c31c",
	},
	{
		name:      "test-data-posts amend 93776ad6",
		itemHash:  "93776ad67063b955869a7fa705ea2987add39486e1ed5951e9842291cf0f566c",
		msgType:   "POST",
		sender:    "0x696879aE4F6d8DaDD5b8F1cbb1e663B89b08f106",
		signature: "0xe0fc46bf4e85b633cade35945390dfd72c02251c44d5fb38753591da298e795000b3461e3802a841c73a9804aa5c4a5c915e9a4785debec2f23ba3bf742609b81b",
	},
}

func TestRegistered(t *testing.T) {
	if len(eth.Chains) != 23 {
		t.Fatalf("eth.Chains has %d names, spec §3.2 lists 23", len(eth.Chains))
	}
	for _, name := range eth.Chains {
		v, ok := chain.Lookup(name)
		if !ok {
			t.Errorf("%s: no verifier registered", name)
			continue
		}
		if _, isEth := v.(eth.Verifier); !isEth {
			t.Errorf("%s: registered verifier is %T", name, v)
		}
	}
	for _, name := range []string{"SOL", "eth", "AVAX", "NULS2", ""} {
		if v, ok := chain.Lookup(name); ok {
			if _, isEth := v.(eth.Verifier); isEth {
				t.Errorf("%q must not use the EVM verifier", name)
			}
		}
	}
}

func TestVectors(t *testing.T) {
	for _, vec := range vectors.Load(t, "eth-*.json") {
		t.Run(vec.Name, func(t *testing.T) {
			buf := vectors.CheckBuffer(t, vec)
			if got := "0x" + hex.EncodeToString(eth.Hash(buf)); got != vec.Derived.EIP191Digest {
				t.Fatalf("Hash = %s, vector has %s", got, vec.Derived.EIP191Digest)
			}

			acc, err := eth.AccountFromHex(vec.Account.PrivateKeyHex)
			if err != nil {
				t.Fatalf("AccountFromHex: %v", err)
			}
			if acc.PrivateKeyHex() != vec.Account.PrivateKeyHex {
				t.Fatalf("PrivateKeyHex = %s, vector has %s", acc.PrivateKeyHex(), vec.Account.PrivateKeyHex)
			}
			sig := vectors.CheckResign(t, vec, acc, buf)
			p := vec.Derived.SignatureParts
			if p == nil {
				t.Fatal("vector has no signature_parts")
			}
			if want := p.R + p.S[2:] + fmt.Sprintf("%02x", p.V); sig != want {
				t.Fatalf("signature %s does not match parts r‖s‖v %s", sig, want)
			}
			if p.V != 27 && p.V != 28 {
				t.Fatalf("SDK v = %d, want 27 or 28", p.V)
			}
		})
	}
}

// TestNegative checks the tampered ETH messages of negative.json (see
// vectors.CheckNegatives for why content-changed still verifies).
func TestNegative(t *testing.T) { vectors.CheckNegatives(t, "ETH") }

func TestRealNetwork(t *testing.T) {
	for _, tc := range realNetwork {
		t.Run(tc.name, func(t *testing.T) {
			buf := chain.Buffer("ETH", tc.sender, tc.msgType, tc.itemHash)
			if err := chain.Verify("ETH", tc.sender, buf, tc.signature); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			// The same signature must not verify for a different item.
			other := chain.Buffer("ETH", tc.sender, tc.msgType, strings.Repeat("0", 64))
			if err := chain.Verify("ETH", tc.sender, other, tc.signature); !errors.Is(err, chain.ErrInvalidSignature) {
				t.Fatalf("Verify on another item_hash = %v, want ErrInvalidSignature", err)
			}
		})
	}
}

// vectorSig returns the eth-post vector's sender, buffer and signature bytes.
func vectorSig(t *testing.T) (string, []byte, []byte) {
	t.Helper()
	vec := vectors.Load(t, "eth-post.json")[0]
	m := vec.Message
	sig, err := hex.DecodeString(m.Signature[2:])
	if err != nil || len(sig) != 65 {
		t.Fatalf("vector signature: %v", err)
	}
	return m.Sender, chain.Buffer(m.Chain, m.Sender, m.Type, m.ItemHash), sig
}

func withV(sig []byte, v byte) []byte {
	out := bytes.Clone(sig)
	out[64] = v
	return out
}

func hex0x(b []byte) string { return "0x" + hex.EncodeToString(b) }

func TestSignatureForms(t *testing.T) {
	sender, buf, sig := vectorSig(t)
	recid := sig[64] - 27 // 1 for the eth-post vector (v = 28)
	other := 1 - recid

	n := crypto.S256().Params().N
	s := new(big.Int).SetBytes(sig[32:64])
	highS := bytes.Clone(sig)
	new(big.Int).Sub(n, s).FillBytes(highS[32:64])
	highS[64] = 27 + other // negating s flips the recovery parity
	nBytes := n.FillBytes(make([]byte, 32))

	setR := func(r []byte) []byte { out := bytes.Clone(sig); copy(out[:32], r); return out }
	setS := func(s []byte) []byte { out := bytes.Clone(sig); copy(out[32:64], s); return out }

	tests := []struct {
		name      string
		sender    string
		signature string
		ok        bool
	}{
		{"as sent", sender, hex0x(sig), true},
		{"no 0x prefix", sender, hex.EncodeToString(sig), true},
		{"0X prefix", sender, "0X" + hex.EncodeToString(sig), true},
		{"upper-case hex", sender, "0x" + strings.ToUpper(hex.EncodeToString(sig)), true},
		{"v 0/1", sender, hex0x(withV(sig, recid)), true},
		{"v 35+ (EIP-155 parity)", sender, hex0x(withV(sig, 35+recid)), true},
		{"v 37+ (chain id 1)", sender, hex0x(withV(sig, 37+recid)), true},
		{"v 253/254 (largest EIP-155 values)", sender, hex0x(withV(sig, 253+recid)), true},
		{"lower-case sender", strings.ToLower(sender), hex0x(sig), true},
		{"upper-case sender", "0x" + strings.ToUpper(sender[2:]), hex0x(sig), true},
		{"0X sender", "0X" + sender[2:], hex0x(sig), true},
		{"high s with flipped v", sender, hex0x(highS), true},

		{"wrong parity 27/28", sender, hex0x(withV(sig, 27+other)), false},
		{"wrong parity 0/1", sender, hex0x(withV(sig, other)), false},
		{"v 2", sender, hex0x(withV(sig, 2)), false},
		{"v 26", sender, hex0x(withV(sig, 26)), false},
		{"v 29", sender, hex0x(withV(sig, 29)), false},
		{"v 34", sender, hex0x(withV(sig, 34)), false},
		{"high s with the original v", sender, hex0x(withV(highS, 27+recid)), false},
		{"r = 0", sender, hex0x(setR(make([]byte, 32))), false},
		{"s = 0", sender, hex0x(setS(make([]byte, 32))), false},
		{"r = n", sender, hex0x(setR(nBytes)), false},
		{"s = n", sender, hex0x(setS(nBytes)), false},
		{"sender without 0x", sender[2:], hex0x(sig), false},
		{"other sender", "0x65fb3E9763aBBBc7A00D63464e615a6028C71E74", hex0x(sig), false},
		{"empty sender", "", hex0x(sig), false},
		{"sender with trailing space", sender + " ", hex0x(sig), false},
		{"64 bytes", sender, hex0x(sig[:64]), false},
		{"66 bytes", sender, hex0x(append(bytes.Clone(sig), 0)), false},
		{"non-hex digit", sender, "0x" + hex.EncodeToString(sig)[:129] + "g", false},
		{"inner space", sender, "0x" + hex.EncodeToString(sig)[:64] + " " + hex.EncodeToString(sig)[65:], false},
		{"trailing newline", sender, hex0x(sig) + "\n", false},
		{"leading space", sender, " " + hex0x(sig), false},
		{"0x0x prefix", sender, "0x0x" + hex.EncodeToString(sig), false},
		{"empty", sender, "", false},
		{"bare 0x", sender, "0x", false},
		{"131 digits", sender, hex0x(sig) + "0", false},
		{"solana-style JSON", sender, `{"signature":"x","publicKey":"y"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vectors.CheckVerify(t, eth.Verifier{}, tc.sender, buf, tc.signature, tc.ok)
		})
	}
}

// TestOddLengthSignature checks the hexbytes quirk pyaleph inherits: a
// signature whose first hex digit is 0 may be sent without it.
func TestOddLengthSignature(t *testing.T) {
	acc, err := eth.AccountFromHex(vectors.Load(t, "eth-post.json")[0].Account.PrivateKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		buf := chain.Buffer("ETH", acc.Address(), "POST", fmt.Sprintf("%064x", i))
		sig, err := acc.Sign(buf)
		if err != nil {
			t.Fatal(err)
		}
		if sig[2] != '0' {
			continue
		}
		if err := chain.Verify("ETH", acc.Address(), buf, "0x"+sig[3:]); err != nil {
			t.Fatalf("odd-length form of %s: %v", sig, err)
		}
		if err := chain.Verify("ETH", acc.Address(), buf, sig[3:]); err != nil {
			t.Fatalf("odd-length unprefixed form of %s: %v", sig, err)
		}
		return
	}
}

func TestHash(t *testing.T) {
	// personal_sign of the empty message and of "hello", as computed by
	// ethers.utils.hashMessage.
	tests := []struct{ msg, want string }{
		{"", "5f35dce98ba4fba25530a026ed80b2cecdaa31091ba4958b99b52ea1d068adad"},
		{"hello", "50b2c43fd39106bafbba0da34fc430e1f91e3c96ea2acee2bc34119f92b37750"},
	}
	for _, tc := range tests {
		if got := hex.EncodeToString(eth.Hash([]byte(tc.msg))); got != tc.want {
			t.Errorf("Hash(%q) = %s, want %s", tc.msg, got, tc.want)
		}
	}
}

func TestAccount(t *testing.T) {
	acc, err := eth.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	if a := acc.Address(); len(a) != 42 || !strings.HasPrefix(a, "0x") {
		t.Fatalf("Address = %q", a)
	}
	again, err := eth.AccountFromHex(acc.PrivateKeyHex())
	if err != nil {
		t.Fatalf("AccountFromHex(PrivateKeyHex()): %v", err)
	}
	vectors.CheckSameSigner(t, acc, again)
	buf := chain.Buffer("ETH", acc.Address(), "POST", strings.Repeat("ab", 32))
	sig, err := acc.Sign(buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != 132 || !strings.HasPrefix(sig, "0x") || (sig[130:] != "1b" && sig[130:] != "1c") {
		t.Fatalf("Sign = %q, want 0x + 130 hex digits ending in 1b or 1c", sig)
	}
	if err := chain.Verify("ETH", acc.Address(), buf, sig); err != nil {
		t.Fatalf("Verify own signature: %v", err)
	}
	for _, name := range eth.Chains {
		b := chain.Buffer(name, acc.Address(), "POST", strings.Repeat("cd", 32))
		s, err := acc.Sign(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := chain.Verify(name, acc.Address(), b, s); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	vec := vectors.Load(t, "eth-post.json")[0].Account
	noPrefix, err := eth.AccountFromHex(strings.TrimPrefix(vec.PrivateKeyHex, "0x"))
	if err != nil || noPrefix.Address() != vec.Address {
		t.Fatalf("AccountFromHex without 0x: %v, %v", noPrefix, err)
	}

	n := hex.EncodeToString(crypto.S256().Params().N.Bytes())
	for _, bad := range []string{"", "0x", "zz", "0x1234", strings.Repeat("0", 64), n, "0x" + strings.Repeat("f", 64), strings.Repeat("1", 66)} {
		if _, err := eth.AccountFromHex(bad); err == nil {
			t.Errorf("AccountFromHex(%q) succeeded", bad)
		}
	}
}

func TestGarbageNeverPanics(t *testing.T) {
	sender, buf, sig := vectorSig(t)
	inputs := []string{
		"", "0", "0x", "x", "0x0", strings.Repeat("0", 130), strings.Repeat("f", 130),
		strings.Repeat("0", 129), "0x" + strings.Repeat("ff", 65), "\x00\xff", "é", "0x" + strings.Repeat("é", 65),
		hex0x(sig)[:100], strings.Repeat("0x", 1000), string(sig),
	}
	for _, in := range inputs {
		for _, s := range []string{sender, "", "\x00", strings.Repeat("x", 1<<12)} {
			for _, b := range [][]byte{buf, nil, {}, bytes.Repeat([]byte{0xff}, 1<<16)} {
				if err := (eth.Verifier{}).Verify(s, b, in); err == nil {
					t.Errorf("Verify(%q, %q, %q) succeeded", s, b, in)
				}
			}
		}
	}
}

func FuzzVerify(f *testing.F) {
	var valid []vectors.Triple
	for _, vec := range vectors.Load(f, "eth-*.json") {
		valid = append(valid, vectors.TripleOf(vec.Message))
	}
	for _, r := range realNetwork {
		valid = append(valid, vectors.Triple{Sender: r.sender, Buffer: chain.Buffer("ETH", r.sender, r.msgType, r.itemHash), Signature: r.signature})
	}
	for _, c := range vectors.Negatives(f, "ETH") {
		in := vectors.TripleOf(c.Message)
		f.Add(in.Sender, in.Buffer, in.Signature)
	}
	f.Add("", []byte{}, "")
	f.Add("0x", []byte("x"), "0x00")

	var verifier eth.Verifier
	vectors.FuzzVerifier(f, verifier, valid, func(t *testing.T, in vectors.Triple, err error) {
		// The sender comparison ignores ASCII case, so the verdict must not
		// change when the sender is lower-cased.
		if lower := strings.ToLower(in.Sender); lower != in.Sender && isASCII(in.Sender) {
			if err2 := verifier.Verify(lower, in.Buffer, in.Signature); (err == nil) != (err2 == nil) {
				t.Fatalf("verdict changed with sender case: %v vs %v", err, err2)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func BenchmarkVerify(b *testing.B) { vectors.BenchVerify(b, "eth-post.json", eth.Verifier{}) }

func BenchmarkSign(b *testing.B) {
	vec := vectors.Load(b, "eth-post.json")[0]
	acc, err := eth.AccountFromHex(vec.Account.PrivateKeyHex)
	if err != nil {
		b.Fatal(err)
	}
	vectors.BenchSign(b, "eth-post.json", acc)
}
