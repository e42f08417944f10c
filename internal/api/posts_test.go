package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
)

// postEnv stores an original post amended twice and a plain post.
func postEnv(t *testing.T) (e *env, orig, amend, plain *store.Record) {
	e = newEnv(t)
	orig = newRec(rec{sender: "0xA", time: 1600000000, channel: "blog", ptype: "article", ref: "topic", content: `{"v": 1}`})
	old := newRec(rec{sender: "0xA", time: 1600000100, ptype: "amend", ref: orig.ItemHash, content: `{"v": 2}`})
	amend = newRec(rec{sender: "0xA", time: 1600000200, ptype: "amend", ref: orig.ItemHash, content: `{"v": 3, "tags": ["t"]}`})
	plain = newRec(rec{sender: "0xB", time: 1600000150, ptype: "note", content: `{"w": 1}`})
	e.insert(orig, old, amend, plain)
	e.update(func(tx store.Tx) error {
		for _, p := range []*store.Post{
			{ItemHash: orig.ItemHash, Owner: "0xA", Type: "article", Ref: "topic", Channel: "blog", Content: json.RawMessage(`{"v": 1}`), CreationTime: 1600000000},
			{ItemHash: old.ItemHash, Owner: "0xA", Type: "amend", Ref: orig.ItemHash, Amends: orig.ItemHash, Content: json.RawMessage(`{"v": 2}`), CreationTime: 1600000100},
			{ItemHash: amend.ItemHash, Owner: "0xA", Type: "amend", Ref: orig.ItemHash, Amends: orig.ItemHash, Content: json.RawMessage(`{"v": 3, "tags": ["t"]}`), CreationTime: 1600000200},
			{ItemHash: plain.ItemHash, Owner: "0xB", Type: "note", Content: json.RawMessage(`{"w": 1}`), CreationTime: 1600000150},
		} {
			if err := tx.InsertPost(p); err != nil {
				return err
			}
		}
		return tx.SetLatestAmend(orig.ItemHash, amend.ItemHash)
	})
	return e, orig, amend, plain
}

func TestPostsV0(t *testing.T) {
	e, orig, amend, plain := postEnv(t)
	body := e.getJSON("/api/v0/posts.json")
	wantKeys(t, "posts.json", body, "posts", "pagination_page", "pagination_total", "pagination_per_page", "pagination_item")
	if str(t, field(t, body, "pagination_item")) != "posts" || num(t, field(t, body, "pagination_total")) != 2 {
		t.Errorf("pagination: %s", body)
	}
	posts := items(t, body, "posts")
	if len(posts) != 2 {
		t.Fatalf("posts: %s", body)
	}
	p := posts[0] // amended last, so newest
	wantKeys(t, "v0 post", p, "chain", "item_hash", "sender", "type", "channel", "confirmed", "content", "item_content",
		"item_type", "signature", "size", "time", "confirmations", "original_item_hash", "original_signature",
		"original_type", "hash", "address", "ref")
	want := map[string]string{
		"chain": `"ETH"`, "item_hash": `"` + amend.ItemHash + `"`, "sender": `"0xA"`, "type": `"amend"`,
		"channel": `"blog"`, "confirmed": "false", "content": `{"v": 3, "tags": ["t"]}`,
		"item_type": `"inline"`, "signature": `"` + amend.Signature + `"`, "time": "1600000200.0", "confirmations": "[]",
		"original_item_hash": `"` + orig.ItemHash + `"`, "original_signature": `"` + orig.Signature + `"`,
		"original_type": `"article"`, "hash": `"` + orig.ItemHash + `"`, "address": `"0xA"`, "ref": `"topic"`,
		"size": fmt.Sprint(amend.Size),
	}
	for k, v := range want {
		if got := string(field(t, p, k)); got != v {
			t.Errorf("v0 %s = %s, want %s", k, got, v)
		}
	}
	if str(t, field(t, p, "item_content")) != amend.ItemContent {
		t.Errorf("v0 item_content is not the amend's: %s", field(t, p, "item_content"))
	}
	q := posts[1]
	if str(t, field(t, q, "item_hash")) != plain.ItemHash || str(t, field(t, q, "type")) != "note" || string(field(t, q, "ref")) != "null" ||
		string(field(t, q, "channel")) != "null" {
		t.Errorf("plain post: %s", q)
	}
	// Filters.
	for query, want := range map[string][]string{
		"addresses=0xB":             {plain.ItemHash},
		"types=article":             {amend.ItemHash},
		"refs=topic":                {amend.ItemHash},
		"channels=blog":             {amend.ItemHash},
		"tags=t":                    {amend.ItemHash},
		"hashes=" + orig.ItemHash:   {amend.ItemHash},
		"hashes=" + amend.ItemHash:  nil,
		"sortOrder=1":               {plain.ItemHash, amend.ItemHash},
		"startDate=1600000180":      {amend.ItemHash},
		"pagination=1&page=2":       {plain.ItemHash},
		"unknown=x&addresses[]=0xB": {plain.ItemHash},
	} {
		body := e.getJSON("/api/v0/posts.json?" + query)
		var got []string
		for _, p := range items(t, body, "posts") {
			got = append(got, str(t, field(t, p, "item_hash")))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("?%s: %v, want %v", query, got, want)
		}
	}
	body = e.getJSON("/api/v0/posts/page/2.json?pagination=1")
	if ps := items(t, body, "posts"); len(ps) != 1 || num(t, field(t, body, "pagination_page")) != 2 || num(t, field(t, body, "pagination_total")) != 2 {
		t.Errorf("/posts/page/2.json: %s", body)
	}
	for _, q := range []string{"pagination=-1", "page=0", "hashes=bad", "sortOrder=0", "startDate=x", "cursor=!!"} {
		e.wantStatus("/api/v0/posts.json?"+q, 422)
	}
	e.wantStatus("/api/v0/posts/page/two.json", 404)
}

func TestPostsV1(t *testing.T) {
	e, orig, amend, _ := postEnv(t)
	body := e.getJSON("/api/v1/posts.json?addresses=0xA")
	posts := items(t, body, "posts")
	if len(posts) != 1 {
		t.Fatalf("v1 posts: %s", body)
	}
	p := posts[0]
	wantKeys(t, "v1 post", p, "item_hash", "content", "original_item_hash", "original_type", "address", "ref", "channel", "created", "last_updated")
	for k, v := range map[string]string{
		"item_hash": `"` + amend.ItemHash + `"`, "content": `{"v": 3, "tags": ["t"]}`, "original_item_hash": `"` + orig.ItemHash + `"`,
		"original_type": `"article"`, "address": `"0xA"`, "ref": `"topic"`, "channel": `"blog"`,
		"created": `"2020-09-13T12:26:40+00:00"`, "last_updated": `"2020-09-13T12:30:00+00:00"`,
	} {
		if got := string(field(t, p, k)); got != v {
			t.Errorf("v1 %s = %s, want %s", k, got, v)
		}
	}
	if body := e.getJSON("/api/v1/posts/page/1.json"); len(items(t, body, "posts")) != 2 {
		t.Errorf("/api/v1/posts/page/1.json: %s", body)
	}
}

func TestPostsCursor(t *testing.T) {
	e := newEnv(t)
	e.insertN(7, func(i int) rec {
		return rec{sender: "0xA", time: float64(1000 + i), ptype: "t", salt: fmt.Sprint(i)}
	}, func(tx store.Tx, i int, r *store.Record) error {
		return tx.InsertPost(&store.Post{ItemHash: r.ItemHash, Owner: "0xA", Type: "t", CreationTime: float64(1000 + i/2)})
	})
	var all []string
	for _, p := range items(t, e.getJSON("/api/v0/posts.json"), "posts") {
		all = append(all, str(t, field(t, p, "item_hash")))
	}
	var got []string
	cursor := ""
	for range 10 {
		body := e.getJSON("/api/v0/posts.json?pagination=3&cursor=" + cursor)
		wantKeys(t, "cursor page", body, "posts", "pagination_per_page", "has_more", "next_cursor")
		for _, p := range items(t, body, "posts") {
			got = append(got, str(t, field(t, p, "item_hash")))
		}
		if string(field(t, body, "next_cursor")) == "null" {
			break
		}
		cursor = str(t, field(t, body, "next_cursor"))
	}
	if len(all) != 7 || !reflect.DeepEqual(got, all) {
		t.Errorf("cursor pages %v, want %v", got, all)
	}
}
