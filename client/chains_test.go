package client_test

import (
	"bytes"
	"testing"

	"github.com/goaleph/goaleph/chain/avax"
	"github.com/goaleph/goaleph/chain/csdk"
	"github.com/goaleph/goaleph/chain/dot"
	"github.com/goaleph/goaleph/chain/nuls2"
	"github.com/goaleph/goaleph/chain/tezos"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/message"
)

// TestEveryChainSigns writes a POST, an AGGREGATE and a STORE with an
// account of each non-EVM, non-Solana chain: the client needs nothing
// chain-specific beyond the message.Signer, and a real node processes
// them all.
func TestEveryChainSigns(t *testing.T) {
	accounts := map[string]func() (message.Signer, error){
		"NULS2": func() (message.Signer, error) { return nuls2.NewAccount() },
		"AVAX":  func() (message.Signer, error) { return avax.NewAccount() },
		"TEZOS": func() (message.Signer, error) { return tezos.NewAccount() },
		"DOT":   func() (message.Signer, error) { return dot.NewAccount() },
		"CSDK":  func() (message.Signer, error) { return csdk.NewAccount() },
	}
	c := newClient(t)
	for name, mk := range accounts {
		t.Run(name, func(t *testing.T) {
			ctx := ctxT(t)
			a, err := mk()
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Post(ctx, a, client.PostParams{Type: "note", Content: map[string]string{"body": "from " + name}, Sync: true})
			mustStatus(t, res, err, client.StatusProcessed)
			if res.Message.Chain != name || res.Message.Sender != a.Address() {
				t.Fatalf("post sent as %s %s", res.Message.Chain, res.Message.Sender)
			}

			res, err = c.UpdateAggregate(ctx, a, "profile", map[string]any{"chain": name}, client.WriteOptions{Sync: true})
			mustStatus(t, res, err, client.StatusProcessed)
			if got := aggregate(ctx, t, c, a.Address(), "profile"); got["chain"] != name {
				t.Fatalf("aggregate %v", got)
			}

			data := []byte("stored by a " + name + " account")
			res, err = c.Store(ctx, a, bytes.NewReader(data), client.StoreParams{Engine: client.EngineStorage, Sync: true})
			mustStatus(t, res, err, client.StatusProcessed)
			var buf bytes.Buffer
			if _, err := c.Download(ctx, res.FileHash, &buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
				t.Fatalf("download: %q, %v", buf.Bytes(), err)
			}
		})
	}
}
