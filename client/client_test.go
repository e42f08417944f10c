package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/chain/sol"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/message"
)

func newClient(t *testing.T) *client.Client {
	t.Helper()
	return client.New(startNode(t, node.Config{}))
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// aggregate reads the merged value of key for addr as a JSON object.
func aggregate(ctx context.Context, t *testing.T, c *client.Client, addr, key string) map[string]any {
	t.Helper()
	v, err := c.Aggregate(ctx, addr, key)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(v, &got); err != nil {
		t.Fatalf("aggregate %s: %s, %v", key, v, err)
	}
	return got
}

func mustStatus(t *testing.T, res *client.Result, err error, want client.Status) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != want {
		t.Fatalf("status %s, want %s", res.Status, want)
	}
}

func TestPostAmendPosts(t *testing.T) {
	c, ctx, a := newClient(t), ctxT(t), ethtest.Account(t)
	orig, err := c.Post(ctx, a, client.PostParams{Type: "note", Content: map[string]any{"body": "v1"}, Channel: "TEST", Sync: true})
	mustStatus(t, orig, err, client.StatusProcessed)
	wantContent := fmt.Sprintf(`{"type":"note","address":"%s","content":{"body":"v1"},"time":`, a.Address())
	if !strings.HasPrefix(orig.Message.ItemContent, wantContent) {
		t.Fatalf("content %s, want prefix %s", orig.Message.ItemContent, wantContent)
	}
	am, err := c.Amend(ctx, a, orig.Message.ItemHash, map[string]any{"body": "v2"}, client.WriteOptions{Channel: "TEST", Sync: true})
	mustStatus(t, am, err, client.StatusProcessed)

	posts, err := c.Posts(ctx, client.PostFilter{Hashes: []string{orig.Message.ItemHash}})
	if err != nil {
		t.Fatal(err)
	}
	if posts.Total != 1 || len(posts.Posts) != 1 {
		t.Fatalf("posts: %+v", posts)
	}
	p := posts.Posts[0]
	if string(p.Content) != `{"body":"v2"}` || p.ItemHash != am.Message.ItemHash || p.OriginalItemHash != orig.Message.ItemHash || p.OriginalType != "note" {
		t.Fatalf("post %+v", p)
	}

	r, err := c.Message(ctx, orig.Message.ItemHash)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != client.StatusProcessed || r.Message.ItemHash != orig.Message.ItemHash || r.Message.Signature != orig.Message.Signature ||
		r.Message.Time != orig.Message.Time || r.Message.Channel != "TEST" {
		t.Fatalf("message %+v", r.Message)
	}
	st, err := c.MessageStatus(ctx, am.Message.ItemHash)
	if err != nil || st.Status != client.StatusProcessed || st.ReceptionTime.IsZero() {
		t.Fatalf("status %+v %v", st, err)
	}
}

func TestSolanaAccount(t *testing.T) {
	c, ctx := newClient(t), ctxT(t)
	a, err := sol.NewAccount()
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Post(ctx, a, client.PostParams{Type: "note", Content: "hi", Sync: true})
	mustStatus(t, res, err, client.StatusProcessed)
	if res.Message.Chain != "SOL" {
		t.Fatal(res.Message.Chain)
	}
}

func TestAsyncPostIsPending(t *testing.T) {
	c, ctx, a := newClient(t), ctxT(t), ethtest.Account(t)
	res, err := c.Post(ctx, a, client.PostParams{Type: "note", Content: 1})
	mustStatus(t, res, err, client.StatusPending)
	// It gets processed eventually.
	for {
		st, err := c.MessageStatus(ctx, res.Message.ItemHash)
		if err == nil && st.Status == client.StatusProcessed {
			return
		}
		if ctx.Err() != nil {
			t.Fatal("never processed", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLargeContentGoesThroughStorage(t *testing.T) {
	c, ctx, a := newClient(t), ctxT(t), ethtest.Account(t)
	big := strings.Repeat("x", client.MaxInlineContent)
	res, err := c.Post(ctx, a, client.PostParams{Type: "big", Content: map[string]string{"body": big}, Sync: true})
	mustStatus(t, res, err, client.StatusProcessed)
	if res.Message.ItemType != message.ItemStorage || res.Message.ItemContent != "" {
		t.Fatalf("item type %s", res.Message.ItemType)
	}
	posts, err := c.Posts(ctx, client.PostFilter{Hashes: []string{res.Message.ItemHash}})
	if err != nil || len(posts.Posts) != 1 {
		t.Fatal(posts, err)
	}
	var body map[string]string
	if err := json.Unmarshal(posts.Posts[0].Content, &body); err != nil || body["body"] != big {
		t.Fatal("content differs", err)
	}
}

func TestAggregateMerge(t *testing.T) {
	c, ctx, a := newClient(t), ctxT(t), ethtest.Account(t)
	base := time.Now().Add(-time.Minute)
	res, err := c.UpdateAggregate(ctx, a, "profile", map[string]any{"name": "alice", "age": 30}, client.WriteOptions{Sync: true, Time: base})
	mustStatus(t, res, err, client.StatusProcessed)
	if !strings.HasPrefix(res.Message.ItemContent, fmt.Sprintf(`{"address":"%s","key":"profile","time":`, a.Address())) {
		t.Fatal(res.Message.ItemContent)
	}
	res, err = c.UpdateAggregate(ctx, a, "profile", map[string]any{"age": 31, "city": "Paris"}, client.WriteOptions{Sync: true, Time: base.Add(time.Second)})
	mustStatus(t, res, err, client.StatusProcessed)
	res, err = c.UpdateAggregate(ctx, a, "other", map[string]any{"k": true}, client.WriteOptions{Sync: true})
	mustStatus(t, res, err, client.StatusProcessed)

	if got := aggregate(ctx, t, c, a.Address(), "profile"); got["name"] != "alice" || got["age"] != 31.0 || got["city"] != "Paris" {
		t.Fatalf("merged %v", got)
	}
	all, err := c.Aggregates(ctx, a.Address())
	if err != nil || len(all) != 2 {
		t.Fatal(all, err)
	}
	if _, err := c.Aggregate(ctx, a.Address(), "missing"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := c.UpdateAggregate(ctx, a, "k", []int{1}, client.WriteOptions{}); err == nil {
		t.Fatal("array content accepted")
	}
}

func TestStoreDownload(t *testing.T) {
	for _, engine := range []string{client.EngineStorage, client.EngineIPFS} {
		t.Run(engine, func(t *testing.T) {
			c, ctx, a := newClient(t), ctxT(t), ethtest.Account(t)
			data := make([]byte, 3<<20+17)
			rand.Read(data)
			var last, total int64
			res, err := c.Store(ctx, a, bytes.NewReader(data), client.StoreParams{Engine: engine, Sync: true,
				Progress: func(d, t int64) { last, total = d, t }})
			mustStatus(t, res, err, client.StatusProcessed)
			if last != int64(len(data)) || total != int64(len(data)) {
				t.Fatalf("progress %d/%d", last, total)
			}
			wantType := message.ItemStorage
			if engine == client.EngineIPFS {
				wantType = message.ItemIPFS
			}
			if it, _ := message.ItemTypeOf(res.FileHash); it != wantType {
				t.Fatalf("file hash %s", res.FileHash)
			}
			var buf bytes.Buffer
			var dl int64
			n, err := c.Download(ctx, res.FileHash, &buf, client.WithDownloadProgress(func(d, _ int64) { dl = d }))
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(data)) || dl != n || !bytes.Equal(buf.Bytes(), data) {
				t.Fatalf("downloaded %d bytes, differ", n)
			}
			f, err := c.Open(ctx, res.FileHash)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if f.Size != int64(len(data)) {
				t.Fatalf("open size %d", f.Size)
			}
			md, err := c.FileMetadata(ctx, res.FileHash)
			if err != nil || md.Size != int64(len(data)) {
				t.Fatal(md, err)
			}
			r, err := c.Message(ctx, res.Message.ItemHash)
			if err != nil || r.Status != client.StatusProcessed || r.Message.Type != message.TypeStore {
				t.Fatal(r, err)
			}
		})
	}
}

func TestForget(t *testing.T) {
	c, ctx, a := newClient(t), ctxT(t), ethtest.Account(t)
	p, err := c.Post(ctx, a, client.PostParams{Type: "note", Content: "bye", Sync: true})
	mustStatus(t, p, err, client.StatusProcessed)
	f, err := c.Forget(ctx, a, client.ForgetParams{Hashes: []string{p.Message.ItemHash}, Reason: "test", Sync: true})
	mustStatus(t, f, err, client.StatusProcessed)
	want := fmt.Sprintf(`{"address":"%s","time":%s,"hashes":["%s"],"reason":"test"}`, a.Address(), message.FormatTime(f.Message.Time), p.Message.ItemHash)
	if f.Message.ItemContent != want {
		t.Fatalf("forget content %s\nwant %s", f.Message.ItemContent, want)
	}
	r, err := c.Message(ctx, p.Message.ItemHash)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != client.StatusForgotten || len(r.ForgottenBy) != 1 || r.ForgottenBy[0] != f.Message.ItemHash || r.Message.ItemHash != p.Message.ItemHash {
		t.Fatalf("forgotten %+v", r)
	}
}

func TestMessagesFiltersAndPagination(t *testing.T) {
	c, ctx, a := newClient(t), ctxT(t), ethtest.Account(t)
	b := ethtest.Account(t)
	base := time.Now().Add(-time.Hour)
	var hashes []string
	for i := range 5 {
		res, err := c.Post(ctx, a, client.PostParams{Type: "t", Content: i, Channel: "CH", Sync: true, Time: base.Add(time.Duration(i) * time.Second)})
		mustStatus(t, res, err, client.StatusProcessed)
		hashes = append(hashes, res.Message.ItemHash)
	}
	res, err := c.UpdateAggregate(ctx, a, "k", map[string]int{"a": 1}, client.WriteOptions{Channel: "CH", Sync: true})
	mustStatus(t, res, err, client.StatusProcessed)
	res, err = c.Post(ctx, b, client.PostParams{Type: "t", Content: "other", Channel: "CH", Sync: true})
	mustStatus(t, res, err, client.StatusProcessed)

	f := client.MessageFilter{Addresses: []string{a.Address()}, Types: []message.Type{message.TypePost}, Pagination: 2}
	page, err := c.Messages(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 5 || page.PerPage != 2 || page.Page != 1 || len(page.Messages) != 2 || page.Messages[0].ItemHash != hashes[4] {
		t.Fatalf("page 1: %+v", page)
	}
	f.Page = 3
	if page, err = c.Messages(ctx, f); err != nil || len(page.Messages) != 1 || page.Messages[0].ItemHash != hashes[0] {
		t.Fatalf("page 3: %+v %v", page, err)
	}
	f = client.MessageFilter{Channels: []string{"CH"}, Ascending: true, Pagination: 100}
	if page, err = c.Messages(ctx, f); err != nil || page.Total != 7 || page.Messages[0].ItemHash != hashes[0] {
		t.Fatalf("channel: %+v %v", page, err)
	}
	if string(page.Messages[0].Content) == "" || page.Messages[0].Raw == nil {
		t.Fatal("no content")
	}
	f = client.MessageFilter{Hashes: hashes[1:3], StartDate: base.Add(-time.Second), EndDate: base.Add(time.Minute)}
	if page, err = c.Messages(ctx, f); err != nil || page.Total != 2 {
		t.Fatalf("hashes: %+v %v", page, err)
	}
	f = client.MessageFilter{Addresses: []string{a.Address()}, Types: []message.Type{message.TypeAggregate}}
	if page, err = c.Messages(ctx, f); err != nil || page.Total != 1 || page.Messages[0].Type != message.TypeAggregate {
		t.Fatalf("types: %+v %v", page, err)
	}
	// A bad filter is a 422 from the node.
	_, err = c.Messages(ctx, client.MessageFilter{Chains: []string{"NOPE"}})
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != 422 {
		t.Fatalf("bad filter: %v", err)
	}
}

func TestRejectedCarriesCode(t *testing.T) {
	c, ctx, a := newClient(t), ctxT(t), ethtest.Account(t)
	// An amend without ref is rejected with POST_AMEND_NO_TARGET.
	res, err := c.Post(ctx, a, client.PostParams{Type: "amend", Content: "x", Sync: true})
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Code == nil || *ae.Code != message.CodePostAmendNoTarget {
		t.Fatalf("error %v", err)
	}
	if res == nil || res.Status != client.StatusRejected {
		t.Fatalf("result %+v", res)
	}
	r, err := c.Message(ctx, res.Message.ItemHash)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != client.StatusRejected || r.ErrorCode == nil || *r.ErrorCode != message.CodePostAmendNoTarget {
		t.Fatalf("message %+v", r)
	}
}

func TestInvalidMessage(t *testing.T) {
	c, ctx, a := newClient(t), ctxT(t), ethtest.Account(t)
	m, err := message.NewInline(a, message.TypePost, "", `{"type":"t"}`, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	m.ItemHash = strings.Repeat("0", 64) // does not match the content
	st, err := c.Submit(ctx, m, false)
	var ae *client.Error
	if st != "" || !errors.As(err, &ae) || ae.Status != 422 || ae.Code == nil || *ae.Code != message.CodeInvalidFormat {
		t.Fatalf("status %q error %v", st, err)
	}
}

func TestWatch(t *testing.T) {
	c, ctx, a := newClient(t), ctxT(t), ethtest.Account(t)
	old, err := c.Post(ctx, a, client.PostParams{Type: "w", Content: 0, Channel: "WATCH", Sync: true})
	mustStatus(t, old, err, client.StatusProcessed)
	seq, err := c.Watch(ctx, client.MessageFilter{Channels: []string{"WATCH"}}, 5)
	if err != nil {
		t.Fatal(err)
	}
	var fresh *client.Result
	n := 0
	for m, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 1 {
			if m.ItemHash != old.Message.ItemHash {
				t.Fatalf("history: %s", m.ItemHash)
			}
			// Not in the channel: must not be seen.
			if _, err := c.Post(ctx, a, client.PostParams{Type: "w", Content: 1, Channel: "OTHER", Sync: true}); err != nil {
				t.Fatal(err)
			}
			fresh, err = c.Post(ctx, a, client.PostParams{Type: "w", Content: 2, Channel: "WATCH"})
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		if m.ItemHash != fresh.Message.ItemHash || string(m.Content) == "" {
			t.Fatalf("live: %s %s", m.ItemHash, m.Content)
		}
		break
	}
	if n != 2 {
		t.Fatalf("%d messages", n)
	}
}

func TestNotFound(t *testing.T) {
	c, ctx := newClient(t), ctxT(t)
	_, err := c.Message(ctx, strings.Repeat("ab", 32))
	if !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("message: %v", err)
	}
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != 404 || !strings.Contains(ae.Message, "not found") {
		t.Fatalf("error %#v", err)
	}
	if _, err := c.MessageStatus(ctx, strings.Repeat("ab", 32)); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("status: %v", err)
	}
	if _, err := c.Aggregates(ctx, "0x0000000000000000000000000000000000000000"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("aggregates: %v", err)
	}
	if _, err := c.Download(ctx, strings.Repeat("cd", 32), &bytes.Buffer{}); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("download: %v", err)
	}
}

func TestDeadNode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := client.New("http://" + addr + "/")
	_, err = c.Messages(ctxT(t), client.MessageFilter{})
	var ae *client.Error
	if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("error %v", err)
	}
	if _, err := c.Watch(ctxT(t), client.MessageFilter{}, 0); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("watch error %v", err)
	}
}

func TestPinAndAddressFiles(t *testing.T) {
	c, ctx, a, b := newClient(t), ctxT(t), ethtest.Account(t), ethtest.Account(t)
	empty, err := c.AddressFiles(ctx, b.Address(), 0, 0)
	if err != nil || len(empty.Files) != 0 || empty.TotalSize != 0 {
		t.Fatalf("files of a new address: %+v, %v", empty, err)
	}
	data := make([]byte, 1000)
	rand.Read(data)
	up, err := c.Store(ctx, a, bytes.NewReader(data), client.StoreParams{Engine: client.EngineIPFS, Sync: true})
	mustStatus(t, up, err, client.StatusProcessed)
	pin, err := c.Pin(ctx, b, up.FileHash, client.StoreParams{Ref: "mine", Sync: true})
	mustStatus(t, pin, err, client.StatusProcessed)
	if pin.FileHash != up.FileHash || !strings.Contains(pin.Message.ItemContent, `"item_type":"ipfs"`) {
		t.Fatalf("pin: %+v", pin)
	}
	files, err := c.AddressFiles(ctx, b.Address(), 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	if files.Total != 1 || files.TotalSize != int64(len(data)) || len(files.Files) != 1 ||
		files.Files[0].FileHash != up.FileHash || files.Files[0].ItemHash != pin.Message.ItemHash || files.Files[0].Created.IsZero() {
		t.Fatalf("files of the pinning address: %+v", files)
	}
	if _, err := c.Pin(ctx, b, strings.Repeat("a", 64), client.StoreParams{}); err == nil {
		t.Fatal("pin of a sha256 hash succeeded")
	}
}
