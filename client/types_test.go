package client_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/message"
)

func TestMessageShapes(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		time     float64
		channel  string
	}{
		{"listed", `{"item_hash":"h","type":"POST","chain":"ETH","sender":"s","signature":"sig","item_type":"inline","item_content":"{}","content":{},"time":1700000000.5,"channel":"C","size":2,"confirmations":[],"confirmed":false}`, 1700000000.5, "C"},
		{"pending", `{"sender":"s","chain":"ETH","signature":"sig","type":"POST","item_content":"{}","item_type":"inline","item_hash":"h","time":"2023-11-14T22:13:20.500000Z","channel":null,"content":{},"reception_time":"2023-11-14T22:13:21Z"}`, 1700000000.5, ""},
		{"forgotten", `{"sender":"s","chain":"ETH","signature":null,"type":"POST","item_type":"inline","item_hash":"h","time":1700000000.5,"channel":null,"owner":"s","payment_type":null,"size":0,"forgotten_at":null}`, 1700000000.5, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m client.Message
			if err := json.Unmarshal([]byte(tc.in), &m); err != nil {
				t.Fatal(err)
			}
			if m.ItemHash != "h" || m.Type != message.TypePost || m.Time != tc.time || m.Channel != tc.channel || string(m.Raw) != tc.in {
				t.Fatalf("%+v", m)
			}
		})
	}
}

func TestErrorText(t *testing.T) {
	code := message.CodeInvalidSignature
	e := &client.Error{Status: 403, Code: &code, Message: "bad signature"}
	if got := e.Error(); got != "aleph: node answered 403 (INVALID_SIGNATURE 1): bad signature" {
		t.Fatal(got)
	}
}

func TestStoreFile(t *testing.T) {
	c, ctx, a := newClient(t), ctxT(t), ethtest.Account(t)
	path := filepath.Join(t.TempDir(), "f.txt")
	if err := os.WriteFile(path, []byte("file contents"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := c.StoreFile(ctx, a, path, client.StoreParams{Sync: true})
	mustStatus(t, res, err, client.StatusProcessed)
	var b strings.Builder
	if _, err := c.Download(ctx, res.FileHash, &b); err != nil || b.String() != "file contents" {
		t.Fatal(b.String(), err)
	}
	if _, err := c.StoreFile(ctx, a, filepath.Join(t.TempDir(), "missing"), client.StoreParams{}); err == nil {
		t.Fatal("missing file stored")
	}
}
