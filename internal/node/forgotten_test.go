package node

import (
	"context"
	"errors"
	"testing"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// skeleton is what a peer holding m as forgotten by forget sends.
func skeleton(m *message.Message, forget string) *store.Forgotten {
	return &store.Forgotten{ItemHash: m.ItemHash, Type: m.Type, Chain: m.Chain, Sender: m.Sender, Signature: m.Signature,
		ItemType: m.ItemType, Time: m.Time, Channel: m.Channel, Owner: m.Sender, PaymentType: "hold", Size: int64(len(m.ItemContent)),
		ForgottenAt: m.Time + 1, ForgottenBy: []string{forget}}
}

// TestImportForgotten: a skeleton is taken only with a valid signature and
// a FORGET of the same sender naming it; it then lets that FORGET finish.
func TestImportForgotten(t *testing.T) {
	n := testNode(t, Config{})
	ctx := context.Background()
	alice, mallory := ethtest.Account(t), ethtest.Account(t)
	gone := post(t, alice, "test", map[string]string{"body": "gone"}, "")
	forget := sign(t, alice, message.TypeForget, map[string]any{"hashes": []string{gone.ItemHash}})

	// No FORGET known here: refused, nothing stored.
	err := n.ImportForgotten(ctx, skeleton(gone, forget.ItemHash))
	if message.CodeOf(err) != message.CodePermissionDenied {
		t.Fatalf("without a FORGET: %v, want permission denied", err)
	}
	// Mallory's FORGET of Alice's message does not make it forgettable.
	malForget := sign(t, mallory, message.TypeForget, map[string]any{"hashes": []string{gone.ItemHash}})
	if st, _ := submit(t, n, malForget, true); st != store.StatusPending {
		t.Fatalf("mallory's FORGET: %s, want pending (target unknown)", st)
	}
	if err := n.ImportForgotten(ctx, skeleton(gone, malForget.ItemHash)); message.CodeOf(err) != message.CodePermissionDenied {
		t.Fatalf("with another sender's FORGET: %v, want permission denied", err)
	}
	// A forged signature.
	bad := skeleton(gone, forget.ItemHash)
	bad.Signature = forget.Signature
	if err := n.ImportForgotten(ctx, bad); message.CodeOf(err) != message.CodeInvalidSignature {
		t.Fatalf("bad signature: %v, want invalid signature", err)
	}
	if _, err := n.Store().Status(ctx, gone.ItemHash); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused skeletons left a trace: %v", err)
	}

	// Alice's FORGET waits for its target; the skeleton lets it finish.
	if st, _ := submit(t, n, forget, true); st != store.StatusPending {
		t.Fatalf("alice's FORGET: %s, want pending", st)
	}
	if err := n.ImportForgotten(ctx, skeleton(gone, forget.ItemHash)); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, n, gone.ItemHash, store.StatusForgotten)
	waitStatus(t, n, forget.ItemHash, store.StatusProcessed)

	// A message processed here is left to its FORGET.
	kept := post(t, alice, "test", map[string]string{"body": "kept"}, "")
	mustProcess(t, n, kept)
	if err := n.ImportForgotten(ctx, skeleton(kept, forget.ItemHash)); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, n, kept.ItemHash, store.StatusProcessed)
}
