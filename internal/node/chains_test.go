package node

import (
	"testing"

	"github.com/goaleph/goaleph/chain/csdk"
	"github.com/goaleph/goaleph/chain/dot"
	"github.com/goaleph/goaleph/chain/tezos"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// TestOtherChains processes POSTs signed by TEZOS, DOT and CSDK accounts,
// including the Micheline form, whose signature covers the envelope time,
// and rejects a copy signed at another time with code 1.
func TestOtherChains(t *testing.T) {
	n := testNode(t, Config{})
	tz, err := tezos.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	d, err := dot.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	c, err := csdk.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []message.Signer{tz, d, c} {
		mustProcess(t, n, post(t, a, "chat", map[string]any{"body": a.Chain()}, ""))
	}

	m := post(t, tz, "chat", map[string]any{"body": "micheline"}, "")
	sig, err := tz.SignAt(m.VerificationBuffer(), m.Time, "")
	if err != nil {
		t.Fatal(err)
	}
	m.Signature = sig
	mustProcess(t, n, m)

	late := post(t, tz, "chat", map[string]any{"body": "micheline, other time"}, "")
	if late.Signature, err = tz.SignAt(late.VerificationBuffer(), late.Time+1, ""); err != nil {
		t.Fatal(err)
	}
	st, err := submit(t, n, late, true)
	if st != store.StatusRejected || message.CodeOf(err) != message.CodeInvalidSignature {
		t.Fatalf("micheline signature of another time: status %s, err %v", st, err)
	}
}
