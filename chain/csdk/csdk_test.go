package csdk_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/csdk"
	"github.com/goaleph/goaleph/internal/vectors"
)

const testKey = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"

func account(t testing.TB) *csdk.Account {
	t.Helper()
	a, err := csdk.AccountFromSecret(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestSignDocMatchesPythonJSON(t *testing.T) {
	// json.dumps(doc, separators=(",", ":"), sort_keys=True) in CPython 3.
	want := `{"account_number":"0","chain_id":"signed-message-v1","fee":{"amount":[],"gas":"0"},"memo":"","msgs":[{"type":"signutil/MsgSignText","value":{"message":"CSDK\ncosmos1x\nPOST\nh\u00e9\ud83d\ude00\u007f\"\\","signer":"cosmos1x"}}],"sequence":"0"}`
	got := string(csdk.SignDoc([]byte("CSDK\ncosmos1x\nPOST\nh\u00e9\U0001F600\x7f\"\\"), "cosmos1x"))
	if got != want {
		t.Fatalf("sign doc\n got %s\nwant %s", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, a := range []*csdk.Account{account(t), mustNew(t)} {
		if !strings.HasPrefix(a.Address(), "cosmos1") {
			t.Fatalf("address %q", a.Address())
		}
		buf := chain.Buffer("CSDK", a.Address(), "POST", strings.Repeat("ab", 32))
		sig, err := a.Sign(buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := chain.Verify("CSDK", a.Address(), buf, sig); err != nil {
			t.Fatalf("own signature refused: %v (%s)", err, sig)
		}
		again, _ := a.Sign(buf)
		if again != sig {
			t.Fatal("signature is not deterministic")
		}
		other := chain.Buffer("CSDK", a.Address(), "STORE", strings.Repeat("ab", 32))
		if err := chain.Verify("CSDK", a.Address(), other, sig); !errors.Is(err, chain.ErrInvalidSignature) {
			t.Fatalf("signature over another buffer: %v", err)
		}
		b, err := csdk.AccountFromSecret("0x" + a.Secret())
		if err != nil || b.Address() != a.Address() {
			t.Fatalf("secret round trip: %v", err)
		}
	}
}

func mustNew(t *testing.T) *csdk.Account {
	a, err := csdk.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMnemonic(t *testing.T) {
	const words = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
	a, err := csdk.AccountFromSecret(words)
	if err != nil {
		t.Fatal(err)
	}
	// The BIP-39 test mnemonic at m/44'/118'/0'/0/0, as cosmjs and Keplr derive it.
	if want := "cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4"; a.Address() != want {
		t.Errorf("address %s, want %s", a.Address(), want)
	}
	if a.Secret() != words {
		t.Errorf("secret %q", a.Secret())
	}
	if _, err := csdk.AccountFromSecret("abandon abandon"); err == nil {
		t.Error("bad mnemonic accepted")
	}
}

func TestOtherPrefix(t *testing.T) {
	a, err := csdk.AccountFromSecretHRP(testKey, "osmo")
	if err != nil {
		t.Fatal(err)
	}
	buf := chain.Buffer("CSDK", a.Address(), "POST", "h")
	sig, _ := a.Sign(buf)
	if err := chain.Verify("CSDK", a.Address(), buf, sig); err != nil {
		t.Fatal(err)
	}
	if _, err := csdk.AccountFromSecret("zz"); err == nil {
		t.Fatal("bad secret accepted")
	}
}

// signedFields returns the test account, the buffer of a POST it signed,
// the signature and the signature's JSON members.
func signedFields(t *testing.T) (a *csdk.Account, buf []byte, sig string, f map[string]any) {
	t.Helper()
	a = account(t)
	in := vectors.SignTriple(t, a, "h")
	if err := json.Unmarshal([]byte(in.Signature), &f); err != nil {
		t.Fatal(err)
	}
	return a, in.Buffer, in.Signature, f
}

func TestMalformed(t *testing.T) {
	a, buf, good, f := signedFields(t)
	with := func(k string, v any) string {
		g := map[string]any{}
		for kk, vv := range f {
			g[kk] = vv
		}
		if v == nil {
			delete(g, k)
		} else {
			g[k] = v
		}
		b, _ := json.Marshal(g)
		return string(b)
	}
	pub := f["pub_key"].(map[string]any)
	sigB64 := f["signature"].(string)
	cases := map[string]struct{ sender, sig string }{
		"not json":          {a.Address(), "baba"},
		"array":             {a.Address(), "[]"},
		"no signature":      {a.Address(), with("signature", nil)},
		"no pub_key":        {a.Address(), with("pub_key", nil)},
		"pub_key string":    {a.Address(), with("pub_key", "x")},
		"pub_key no value":  {a.Address(), with("pub_key", map[string]any{"type": pub["type"]})},
		"value not base64":  {a.Address(), with("pub_key", map[string]any{"value": "A"})},
		"signature number":  {a.Address(), with("signature", 5)},
		"short signature":   {a.Address(), with("signature", sigB64[:40])},
		"other sender":      {"cosmos1rq3rcux05yftlh307gw8khh6xj43nv40mq27f5", good},
		"sender without 1":  {"cosmos", good},
		"upper-case sender": {strings.ToUpper(a.Address()), good},
		"zero signature":    {a.Address(), with("signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")},
		"max signature":     {a.Address(), with("signature", strings.Repeat("/", 86)+"==")},
	}
	for name, c := range cases {
		err := chain.Verify("CSDK", c.sender, chain.Buffer("CSDK", c.sender, "POST", "h"), c.sig)
		if !errors.Is(err, chain.ErrInvalidSignature) {
			t.Errorf("%s: got %v, want ErrInvalidSignature", name, err)
		}
	}
	// Python's b64decode drops characters outside the alphabet.
	spaced := with("signature", sigB64[:10]+" \n"+sigB64[10:])
	if err := chain.Verify("CSDK", a.Address(), buf, spaced); err != nil {
		t.Errorf("base64 with white space: %v", err)
	}
	// The pub_key type is only logged by the reference.
	if err := chain.Verify("CSDK", a.Address(), buf, with("pub_key", map[string]any{"type": "other", "value": pub["value"]})); err != nil {
		t.Errorf("other pub_key type: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	a := account(f)
	good := vectors.SignTriple(f, a, "h")
	f.Add(a.Address(), []byte("h"), good.Signature)
	f.Add("cosmos1rq3rcux05yftlh307gw8khh6xj43nv40mq27f5", []byte("x"), `{"signature":"","pub_key":{"value":""}}`)
	vectors.FuzzVerifier(f, csdk.Verifier{}, []vectors.Triple{good}, nil)
}

func BenchmarkVerify(b *testing.B) {
	vectors.BenchVerifyTriple(b, csdk.Verifier{}, vectors.SignTriple(b, account(b), strings.Repeat("ab", 32)))
}

func BenchmarkSign(b *testing.B) { vectors.BenchSignHash(b, account(b), strings.Repeat("ab", 32)) }

// highS returns the base64 r‖s signature with S replaced by n-S.
func highS(t *testing.T, sigB64 string) string {
	b, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil || len(b) != 64 {
		t.Fatalf("signature %q", sigB64)
	}
	var s secp256k1.ModNScalar
	s.SetByteSlice(b[32:])
	s.Negate()
	s.PutBytesUnchecked(b[32:])
	return base64.StdEncoding.EncodeToString(b)
}

func TestHighS(t *testing.T) {
	a, buf, _, f := signedFields(t)
	f["signature"] = highS(t, f["signature"].(string))
	b, _ := json.Marshal(f)
	// python-ecdsa, which the reference verifies with, accepts either S.
	if err := chain.Verify("CSDK", a.Address(), buf, string(b)); err != nil {
		t.Fatalf("high-S signature refused: %v", err)
	}
}
