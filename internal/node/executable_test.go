package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

func program(code, runtime string, allowAmend bool, replaces string) map[string]any {
	c := map[string]any{
		"type": "vm-function", "allow_amend": allowAmend,
		"code":      map[string]any{"encoding": "zip", "entrypoint": "main:app", "ref": code, "use_latest": false},
		"runtime":   map[string]any{"ref": runtime, "use_latest": false, "comment": "test runtime"},
		"on":        map[string]any{"http": true},
		"resources": map[string]any{"vcpus": 1, "memory": 128, "seconds": 30},
	}
	if replaces != "" {
		c["replaces"] = replaces
	}
	return c
}

// storeFile uploads data and processes a STORE message for it.
func storeFile(t testing.TB, n *Node, a message.Signer, data string) *message.Message {
	t.Helper()
	info, err := n.files.Add(context.Background(), files.Native, strings.NewReader(data), files.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.PinUpload(context.Background(), info); err != nil {
		t.Fatal(err)
	}
	m := sign(t, a, message.TypeStore, map[string]any{"item_type": "storage", "item_hash": info.Hash})
	mustProcess(t, n, m)
	return m
}

func TestProgramVolumesAndReplaces(t *testing.T) {
	n := testNode(t, Config{MaxBackoff: time.Hour})
	a := ethtest.Account(t)
	code := storeFile(t, n, a, "code archive")
	runtime := storeFile(t, n, a, "runtime image")

	// A program whose volume is not known waits for it.
	missingRef := strings.Repeat("c", 64)
	st, err := submit(t, n, sign(t, a, message.TypeProgram, program(code.ItemHash, missingRef, true, "")), true)
	if st != store.StatusPending {
		t.Fatalf("program with a missing runtime: %s %v", st, err)
	}

	p1 := sign(t, a, message.TypeProgram, program(code.ItemHash, runtime.ItemHash, true, ""))
	mustProcess(t, n, p1)
	// The code volume of a program cannot be forgotten.
	wantRejected(t, n, sign(t, a, message.TypeForget, map[string]any{"hashes": []string{code.ItemHash}}), message.CodeForgetNotAllowed, "forget of a volume in use")
	// A new version may replace an amendable program once, not a replacement.
	p2 := sign(t, a, message.TypeProgram, program(code.ItemHash, runtime.ItemHash, false, p1.ItemHash))
	mustProcess(t, n, p2)
	wantRejected(t, n, sign(t, a, message.TypeProgram, program(code.ItemHash, runtime.ItemHash, false, p2.ItemHash)), message.CodeVMUpdateUpdate, "replacing a replacement")
	p3 := sign(t, a, message.TypeProgram, program(code.ItemHash, runtime.ItemHash, false, ""))
	mustProcess(t, n, p3)
	wantRejected(t, n, sign(t, a, message.TypeProgram, program(code.ItemHash, runtime.ItemHash, false, p3.ItemHash)), message.CodeVMAmendNotAllowed, "replacing a program without allow_amend")
	// Once every program using it is forgotten, the volume can be forgotten.
	mustProcess(t, n, sign(t, a, message.TypeForget, map[string]any{"hashes": []string{p1.ItemHash, p2.ItemHash, p3.ItemHash}}))
	mustProcess(t, n, sign(t, a, message.TypeForget, map[string]any{"hashes": []string{code.ItemHash}}))

	// An INSTANCE needs its rootfs parent.
	in := sign(t, a, message.TypeInstance, map[string]any{
		"allow_amend": false,
		"rootfs":      map[string]any{"parent": map[string]any{"ref": runtime.ItemHash, "use_latest": true}, "persistence": "host", "size_mib": 20480},
		"resources":   map[string]any{"vcpus": 1, "memory": 2048, "seconds": 30},
	})
	mustProcess(t, n, in)
}
