package client_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/message"
)

// TestCreateInstance publishes an INSTANCE on a core node, which processes
// it; the content has the SDK's shape. Bad parameters fail before sending.
func TestCreateInstance(t *testing.T) {
	c, ctx, a := newClient(t), ctxT(t), ethtest.Account(t)
	st, err := c.Store(ctx, a, bytes.NewReader([]byte("a root image")), client.StoreParams{Sync: true})
	if err != nil || st.Status != client.StatusProcessed {
		t.Fatalf("store: %v %v", st, err)
	}
	rootfs := st.Message.ItemHash
	res, err := c.CreateInstance(ctx, a, client.InstanceParams{
		RootFS: rootfs, RootFSSizeMiB: 1024, VCPUs: 1, MemoryMiB: 256, Name: "vm",
		AuthorizedKeys: []string{"ssh-ed25519 AAAA k"}, Internet: true,
		Volumes: []message.Volume{{Name: "data", Mount: "/mnt/data", Persistence: "host", SizeMiB: 16}},
		Sync:    true,
	})
	if err != nil || res.Status != client.StatusProcessed {
		t.Fatalf("create: %v %v", res, err)
	}
	r, err := c.Message(ctx, res.Message.ItemHash)
	if err != nil || r.Message.Type != message.TypeInstance {
		t.Fatalf("message: %v %v", r, err)
	}
	var got struct {
		Address  string            `json:"address"`
		Metadata map[string]string `json:"metadata"`
		Keys     []string          `json:"authorized_keys"`
		Env      map[string]any    `json:"environment"`
		Res      message.Resources `json:"resources"`
		RootFS   message.RootFS    `json:"rootfs"`
		Volumes  []message.Volume  `json:"volumes"`
	}
	if err := json.Unmarshal(r.Message.Content, &got); err != nil {
		t.Fatal(err)
	}
	want := message.RootFS{Parent: message.Ref{Ref: rootfs, UseLatest: true}, Persistence: "host", SizeMiB: 1024}
	if got.Address != a.Address() || got.Metadata["name"] != "vm" || len(got.Keys) != 1 || got.RootFS != want ||
		got.Res != (message.Resources{VCPUs: 1, Memory: 256, Seconds: client.DefaultInstanceSeconds}) ||
		got.Env["hypervisor"] != "qemu" || got.Env["internet"] != true || len(got.Volumes) != 1 {
		t.Errorf("content %s", r.Message.Content)
	}

	for _, tc := range []struct {
		p    client.InstanceParams
		want string
	}{
		{client.InstanceParams{RootFS: "nope", RootFSSizeMiB: 10}, "not an item hash"},
		{client.InstanceParams{RootFS: rootfs}, "at least 1 MiB"},
		{client.InstanceParams{RootFS: rootfs, RootFSSizeMiB: 10, Persistence: "disk"}, "host or store"},
		{client.InstanceParams{RootFS: rootfs, RootFSSizeMiB: 10, VCPUs: -1}, "positive"},
	} {
		if _, err := c.CreateInstance(ctx, a, tc.p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v; want %q", tc.p, err, tc.want)
		}
	}
}
