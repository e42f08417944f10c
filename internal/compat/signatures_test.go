package compat

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/bech32"
	"github.com/tyler-smith/go-bip39"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/avax"
	"github.com/goaleph/goaleph/chain/csdk"
	"github.com/goaleph/goaleph/chain/dot"
	"github.com/goaleph/goaleph/chain/nuls2"
	"github.com/goaleph/goaleph/chain/tezos"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/message"
)

// signCase is one message for compat/cross/sign.mjs to sign with an SDK.
type signCase struct {
	Kind    string        `json:"kind"`
	SDK     string        `json:"sdk"`
	Secret  string        `json:"secret"`
	Message crossEnvelope `json:"message"`
}

// sdkSignature is what compat/cross/sign.mjs reports for a case.
type sdkSignature struct {
	Kind      string `json:"kind"`
	SDK       string `json:"sdk"`
	Address   string `json:"address"`
	Signature string `json:"signature"`
}

// goSigner is a Go SDK account and what the JavaScript SDKs import it from.
type goSigner struct {
	kind   string
	acc    message.Signer
	secret string
	// sdks are the JavaScript SDKs that sign with this kind of key.
	sdks []string
	// want is the signature field the JavaScript SDKs must produce for m;
	// nil for a randomized scheme, whose SDK signature must verify instead.
	want func(m *message.Message) (string, error)
}

// TestSameSignatures: for the deterministic schemes, the Go SDK's signature
// of a message (which the node processed) equals the one the official
// JavaScript SDKs make for the same key and message: @aleph-sdk/nuls2,
// cosmos, avalanche (X-chain) and tezos (tz1, its Micheline form) 1.7, and
// aleph-js 0.5.3's NULS2, CSDK and AVAX accounts. For DOT, whose SDKs sign
// with sr25519 (randomized), @aleph-sdk/substrate's and aleph-js's address
// for the same mnemonic is the Go SDK's and their signatures verify.
func TestSameSignatures(t *testing.T) {
	nodeBin, dir, addr := crossSetup(t, "sign.mjs")
	c := client.New("http://" + addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var cases []signCase
	wants := map[string]string{}
	for _, s := range goSigners(t) {
		res, err := c.Post(ctx, s.acc, client.PostParams{Type: "same-signature", Content: map[string]any{"kind": s.kind}, Channel: "SAME-" + s.kind, Sync: true})
		if err != nil {
			t.Fatalf("%s: Go client post: %v", s.kind, err)
		}
		if res.Status != client.StatusProcessed {
			t.Fatalf("%s: Go client post: status %q, want processed", s.kind, res.Status)
		}
		want := ""
		if s.want != nil {
			if want, err = s.want(res.Message); err != nil {
				t.Fatal(err)
			}
		}
		for _, sdk := range s.sdks {
			wants[sdk+" "+s.kind] = want
			cases = append(cases, signCase{Kind: s.kind, SDK: sdk, Secret: s.secret, Message: envelopeOf(res.Message)})
		}
	}

	in, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cases.json")
	if err := os.WriteFile(path, in, 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, err := runNode(t, nodeBin, dir, addr, []string{"CROSS_SIGN=" + path}, filepath.Join("cross", "sign.mjs"))
	if err != nil {
		t.Fatalf("cross/sign.mjs failed (%v); see the log above", err)
	}
	lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
	var out struct {
		Signatures []sdkSignature `json:"signatures"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &out); err != nil {
		t.Fatalf("cannot parse the last line of cross/sign.mjs's output: %v\n%s", err, stdout)
	}
	if len(out.Signatures) != len(cases) {
		t.Fatalf("cross/sign.mjs signed %d cases, want %d", len(out.Signatures), len(cases))
	}
	for i, got := range out.Signatures {
		cs := cases[i]
		t.Run(cs.SDK+"/"+cs.Kind, func(t *testing.T) {
			if got.SDK != cs.SDK || got.Kind != cs.Kind {
				t.Fatalf("answer %d is for %s %s, want %s %s", i, got.SDK, got.Kind, cs.SDK, cs.Kind)
			}
			wantAddr := cs.Message.Sender
			if cs.SDK == "@aleph-sdk/avalanche" {
				wantAddr = emptyHRPAddress(t, wantAddr)
				refusedSender(t, cs, wantAddr)
			}
			if got.Address != wantAddr {
				t.Errorf("the SDK's address for the key is %s, want %s (the Go SDK's: %s)", got.Address, wantAddr, cs.Message.Sender)
			}
			m := cs.Message
			buf := chain.Buffer(m.Chain, m.Sender, m.Type, m.ItemHash)
			want := wants[cs.SDK+" "+cs.Kind]
			if want == "" {
				// Randomized (sr25519): the SDK's own signature must verify.
				if err := chain.VerifyMessage(m.Chain, m.Sender, buf, got.Signature, m.Time); err != nil {
					t.Errorf("the node's verifier refuses the SDK's signature %s: %v", got.Signature, err)
				}
				return
			}
			if cs.SDK == "aleph-js" && cs.Kind == "CSDK" {
				// cosmosjs writes more members, in another order.
				got.Signature, want = cosmosCore(t, got.Signature), cosmosCore(t, want)
			}
			if got.Signature != want {
				t.Errorf("signature differs:\n the SDK: %s\n Go:      %s", got.Signature, want)
			}
			if err := chain.VerifyMessage(m.Chain, m.Sender, buf, want, m.Time); err != nil {
				t.Errorf("the node's verifier refuses the signature: %v", err)
			}
		})
	}
}

// goSigners returns a fresh Go SDK account of each deterministic scheme.
func goSigners(t *testing.T) []goSigner {
	t.Helper()
	// sent: the Go client's own signature field is the one to match.
	sent := func(m *message.Message) (string, error) { return m.Signature, nil }
	n := must(nuls2.NewAccount())(t)
	mnemonic := newMnemonic(t, 128)
	cs := must(csdk.AccountFromSecret(mnemonic))(t)
	av := must(avax.NewAccount())(t)
	avaxKey := must(avax.DecodeCB58(strings.TrimPrefix(av.Secret(), "PrivateKey-")))(t)
	tz := must(tezos.NewAccount())(t)
	dotMnemonic := newMnemonic(t, 256) // 24 words, as @aleph-sdk/substrate makes
	dt := must(dot.AccountFromSecret(dotMnemonic))(t)
	return []goSigner{
		{kind: "NULS2", acc: n, secret: n.Secret(), sdks: []string{"@aleph-sdk/nuls2", "aleph-js"}, want: sent},
		{kind: "CSDK", acc: cs, secret: mnemonic, sdks: []string{"@aleph-sdk/cosmos", "aleph-js"}, want: sent},
		{kind: "AVAX", acc: av, secret: hex.EncodeToString(avaxKey), sdks: []string{"@aleph-sdk/avalanche", "aleph-js"}, want: sent},
		// The Go client sends Tezos messages in the raw form; the
		// TypeScript SDK signs only the Micheline form, which SignAtSDK
		// reproduces.
		{kind: "TEZOS", acc: tz, secret: tz.Secret(), sdks: []string{"@aleph-sdk/tezos"}, want: func(m *message.Message) (string, error) {
			return tz.SignAtSDK(m.VerificationBuffer(), m.Time)
		}},
		// sr25519 signatures are randomized: the SDKs' must verify, and
		// their address for the mnemonic must be the Go SDK's.
		{kind: "DOT", acc: dt, secret: dotMnemonic, sdks: []string{"@aleph-sdk/substrate", "aleph-js"}},
	}
}

// must returns a function that fails its test on a non-nil err and
// otherwise returns v: must(f())(t).
func must[T any](v T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// newMnemonic returns a fresh BIP-39 mnemonic of the given entropy bits.
func newMnemonic(t *testing.T, bits int) string {
	t.Helper()
	return must(bip39.NewMnemonic(must(bip39.NewEntropy(bits))(t)))(t)
}

// emptyHRPAddress returns the X-chain address @aleph-sdk/avalanche 1.7.4
// reports for the key of the Go SDK's X-avax1… address: the same key hash,
// but in bech32 with an empty human-readable part ("X-1…"), since it
// builds its key chain with new AvalancheCore(), whose HRP is "".
func emptyHRPAddress(t *testing.T, goAddr string) string {
	t.Helper()
	hrp, data, err := bech32.Decode(strings.TrimPrefix(goAddr, "X-"))
	if err != nil || hrp != avax.HRP {
		t.Fatalf("Go SDK address %s: hrp %q, %v", goAddr, hrp, err)
	}
	enc, err := bech32.Encode("", data)
	if err != nil {
		t.Fatal(err)
	}
	return "X-" + enc
}

// refusedSender checks that a message naming the TypeScript SDK's
// empty-HRP address as sender is refused even when correctly signed by its
// key, as pyaleph refuses it (it re-encodes the key hash with "avax" and
// compares): the SDK's X-chain accounts cannot write to the network.
func refusedSender(t *testing.T, cs signCase, sender string) {
	t.Helper()
	acc, err := avax.AccountFromSecret(cs.Secret)
	if err != nil {
		t.Fatal(err)
	}
	buf := chain.Buffer("AVAX", sender, cs.Message.Type, cs.Message.ItemHash)
	sig, err := acc.Sign(buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := chain.Verify("AVAX", sender, buf, sig); !errors.Is(err, chain.ErrInvalidSignature) {
		t.Errorf("sender %s: got %v, want ErrInvalidSignature", sender, err)
	}
}

// cosmosCore returns the pub_key and signature members of a Cosmos
// signature field, as canonical JSON.
func cosmosCore(t *testing.T, field string) string {
	t.Helper()
	var f struct {
		PubKey    json.RawMessage `json:"pub_key"`
		Signature string          `json:"signature"`
	}
	if err := json.Unmarshal([]byte(field), &f); err != nil {
		t.Fatalf("Cosmos signature field %q: %v", field, err)
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
