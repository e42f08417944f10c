package dot_test

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/dot"
	"github.com/goaleph/goaleph/internal/vectors"
)

// The well-known development mnemonic of Substrate (subkey, polkadot.js);
// //Alice is derived from it, the bare phrase gives this address.
const devPhrase = "bottom drive obey lake curtain smoke basket hold race lonely fit walk"

func TestDevPhraseAddress(t *testing.T) {
	a, err := dot.AccountFromSecret(devPhrase)
	if err != nil {
		t.Fatal(err)
	}
	// subkey inspect "bottom drive obey lake curtain smoke basket hold race lonely fit walk"
	if want := "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV"; a.Address() != want {
		t.Fatalf("address %s, want %s", a.Address(), want)
	}
}

func TestRoundTrip(t *testing.T) {
	a, err := dot.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(a.Secret())); n != 12 {
		t.Fatalf("mnemonic of %d words", n)
	}
	buf := chain.Buffer("DOT", a.Address(), "POST", strings.Repeat("cd", 32))
	sig, err := a.Sign(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sig, `{"curve":"sr25519","data":"0x`) {
		t.Fatalf("signature field %s", sig)
	}
	if err := chain.Verify("DOT", a.Address(), buf, sig); err != nil {
		t.Fatalf("own signature refused: %v", err)
	}
	other := chain.Buffer("DOT", a.Address(), "STORE", strings.Repeat("cd", 32))
	if err := chain.Verify("DOT", a.Address(), other, sig); !errors.Is(err, chain.ErrInvalidSignature) {
		t.Fatalf("signature over another buffer: %v", err)
	}
	b, err := dot.AccountFromSecret("  " + strings.ReplaceAll(a.Secret(), " ", "\n ") + "\n")
	if err != nil || b.Address() != a.Address() {
		t.Fatalf("mnemonic round trip: %v", err)
	}
	seed := "0x" + strings.Repeat("11", 32)
	c, err := dot.AccountFromSecret(seed)
	if err != nil || c.Secret() != seed {
		t.Fatalf("seed: %v", err)
	}
	sig, _ = c.Sign(buf)
	if err := chain.Verify("DOT", a.Address(), buf, sig); !errors.Is(err, chain.ErrInvalidSignature) {
		t.Fatalf("other key's address accepted: %v", err)
	}
	key, _ := dot.PublicKey(c.Address())
	hexSender := "0x" + hex.EncodeToString(key[:])
	hbuf := chain.Buffer("DOT", hexSender, "POST", "x")
	sig, _ = c.Sign(hbuf)
	if err := chain.Verify("DOT", hexSender, hbuf, sig); err != nil {
		t.Fatalf("hex sender: %v", err)
	}
}

func TestAddressFormats(t *testing.T) {
	var key [32]byte
	copy(key[:], "goaleph substrate test key 32 by")
	for _, f := range []int{0, 2, 42, 63, 64, 255, 1284, 16383} {
		addr, err := dot.Address(key, f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := dot.PublicKey(addr)
		if err != nil || got != key {
			t.Fatalf("format %d: %s: %v", f, addr, err)
		}
	}
	for _, f := range []int{-1, 46, 47, 16384} {
		if _, err := dot.Address(key, f); err == nil {
			t.Errorf("format %d accepted", f)
		}
	}
	// Polkadot (0) address of the pyaleph vector's key.
	if _, err := dot.PublicKey("5CGNMKCscqN2QNcT7Jtuz23ab7JUxh8wTEtXhECZLJn5vCGY"); err == nil {
		t.Error("bad checksum accepted")
	}
}

func TestMalformed(t *testing.T) {
	a, _ := dot.AccountFromSecret(devPhrase)
	buf := chain.Buffer("DOT", a.Address(), "POST", "h")
	good, _ := a.Sign(buf)
	data := good[len(`{"curve":"sr25519","data":"`) : len(good)-2]
	cases := map[string]struct{ sender, sig string }{
		"not json":        {a.Address(), "baba"},
		"no data":         {a.Address(), `{"curve":"sr25519"}`},
		"data number":     {a.Address(), `{"data":12}`},
		"data not hex":    {a.Address(), `{"data":"0xzz"}`},
		"short data":      {a.Address(), `{"data":"` + data[:100] + `"}`},
		"no marker bit":   {a.Address(), `{"data":"0x` + strings.Repeat("00", 64) + `"}`},
		"sender not ss58": {"0OIl", good},
		"short sender":    {"5CGNMKCscqN2QNcT7Jtuz23ab7", good},
		"other sender":    {"5CGNMKCscqN2QNcT7Jtuz23ab7JUxh8wTEtXhECZLJn5vCGX", good},
		"empty sender":    {"", good},
	}
	for name, c := range cases {
		err := chain.Verify("DOT", c.sender, chain.Buffer("DOT", c.sender, "POST", "h"), c.sig)
		if !errors.Is(err, chain.ErrInvalidSignature) {
			t.Errorf("%s: got %v, want ErrInvalidSignature", name, err)
		}
	}
	// data without 0x and another curve name are accepted, as by the reference.
	if err := chain.Verify("DOT", a.Address(), buf, `{"curve":"ed25519","data":"`+data[2:]+`"}`); err != nil {
		t.Errorf("unprefixed data: %v", err)
	}
	if err := chain.Verify("DOT", a.Address(), []byte{'D', 0xff}, good); !errors.Is(err, chain.ErrInvalidSignature) {
		t.Errorf("non-UTF-8 buffer: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	a, _ := dot.AccountFromSecret(devPhrase)
	f.Add("5CGNMKCscqN2QNcT7Jtuz23ab7JUxh8wTEtXhECZLJn5vCGX", []byte("x"), `{"data":"0x00"}`)
	vectors.FuzzVerifier(f, dot.Verifier{}, []vectors.Triple{vectors.SignTriple(f, a, "h")}, nil)
}

func BenchmarkVerify(b *testing.B) {
	a, _ := dot.AccountFromSecret(devPhrase)
	vectors.BenchVerifyTriple(b, dot.Verifier{}, vectors.SignTriple(b, a, strings.Repeat("cd", 32)))
}

func BenchmarkSign(b *testing.B) {
	a, _ := dot.AccountFromSecret(devPhrase)
	vectors.BenchSignHash(b, a, strings.Repeat("cd", 32))
}
