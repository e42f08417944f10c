package tezos_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/tezos"
)

// sdkVector is a POST signed by the official TypeScript SDK,
// @aleph-sdk/tezos 1.7.4 (importAccountFromPrivateKey(aliceSecret), then
// buildMessage, prepareAlephMessage and account.sign from
// @aleph-sdk/message 1.7.5), recorded on 2026-12-07.
var sdkVector = struct {
	sender, msgType, itemHash, signature string
	time                                 float64
}{
	sender:    aliceHash,
	msgType:   "POST",
	itemHash:  "3ad4d8a8f66ae7218000581f28aadd6f2875d32691da49ed0a636f6fe28a0b63",
	time:      1796642618.717,
	signature: `{"signature":"sigpEDoPDDbLQA9gsm1SdzNVa1Kjw6tdHvPmk1hxZ5LoVfEB5xBbxTbHFetzwgKds1guT3ajbq4f4fE2UcDSYGinpHtisZJX","publicKey":"edpkvGfYw3LyB1UcCahKQk4rF2tvbMUk8GFiTuMjL75uGXrpvKXhjn","signingType":"micheline","dAppUrl":"https://aleph.im"}`,
}

// TestTypeScriptSDKSignature: the TypeScript SDK's Micheline signature,
// whose time stamp reads the envelope's seconds as milliseconds, verifies;
// the same key's SignAtSDK reproduces it byte for byte; another second, type
// or hash is refused.
func TestTypeScriptSDKSignature(t *testing.T) {
	v := sdkVector
	buf := chain.Buffer("TEZOS", v.sender, v.msgType, v.itemHash)
	if err := chain.VerifyMessage("TEZOS", v.sender, buf, v.signature, v.time); err != nil {
		t.Fatalf("the SDK's signature is refused: %v", err)
	}
	a, err := tezos.AccountFromSecret(aliceSecret)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.SignAtSDK(buf, v.time)
	if err != nil {
		t.Fatal(err)
	}
	if got != v.signature {
		t.Fatalf("SignAtSDK =\n%s\nwant the SDK's\n%s", got, v.signature)
	}
	for what, err := range map[string]error{
		"time + 1 s":  chain.VerifyMessage("TEZOS", v.sender, buf, v.signature, v.time+1),
		"time - 1 s":  chain.VerifyMessage("TEZOS", v.sender, buf, v.signature, v.time-1),
		"no time":     chain.Verify("TEZOS", v.sender, buf, v.signature),
		"type STORE":  chain.VerifyMessage("TEZOS", v.sender, chain.Buffer("TEZOS", v.sender, "STORE", v.itemHash), v.signature, v.time),
		"other hash":  chain.VerifyMessage("TEZOS", v.sender, chain.Buffer("TEZOS", v.sender, v.msgType, v.itemHash[1:]+"0"), v.signature, v.time),
		"other dApp":  chain.VerifyMessage("TEZOS", v.sender, buf, strings.Replace(v.signature, `"https://aleph.im"`, `"aleph.im"`, 1), v.time),
		"raw instead": chain.VerifyMessage("TEZOS", v.sender, buf, strings.Replace(v.signature, `,"signingType":"micheline","dAppUrl":"https://aleph.im"`, "", 1), v.time),
	} {
		if !errors.Is(err, chain.ErrInvalidSignature) {
			t.Errorf("%s: got %v, want ErrInvalidSignature", what, err)
		}
	}
}

// TestSignAtSDKCurves: the SDK form made by every curve's account verifies.
func TestSignAtSDKCurves(t *testing.T) {
	const when = 1796642618.717
	for _, a := range accounts(t) {
		buf := chain.Buffer("TEZOS", a.Address(), "AGGREGATE", "ab")
		sig, err := a.SignAtSDK(buf, when)
		if err != nil {
			t.Fatal(err)
		}
		if err := chain.VerifyMessage("TEZOS", a.Address(), buf, sig, when); err != nil {
			t.Errorf("%s: %v (%s)", a.Address(), err, sig)
		}
		if err := chain.VerifyMessage("TEZOS", a.Address(), buf, sig, when+1); !errors.Is(err, chain.ErrInvalidSignature) {
			t.Errorf("%s at another second: %v", a.Address(), err)
		}
	}
}

func TestSDKTime(t *testing.T) {
	// new Date(t).toISOString() in Node.js.
	for t0, want := range map[float64]string{
		1796642618.717: "1970-01-21T19:04:02.618Z",
		1663944079.029: "1970-01-20T06:12:24.079Z",
		0.5:            "1970-01-01T00:00:00.000Z",
		-1.5:           "1969-12-31T23:59:59.999Z",
	} {
		if got := tezos.SDKTime(t0); got != want {
			t.Errorf("%v: got %q, want %q", t0, got, want)
		}
	}
}
