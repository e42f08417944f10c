package api

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
)

func aggEnv(t *testing.T) *env {
	e := newEnv(t)
	e.update(func(tx store.Tx) error {
		for _, a := range []*store.Aggregate{
			{Owner: "0xA", Key: "profile", Content: json.RawMessage(`{"name": "a", "n": 1}`), CreationTime: 1600000000,
				LastRevisionHash: hashOf("rev1"), LastRevisionTime: 1600000000.5},
			{Owner: "0xA", Key: "settings", Content: json.RawMessage(`{"dark": true}`), CreationTime: 1600000100,
				LastRevisionHash: hashOf("rev2"), LastRevisionTime: 1600000300},
			{Owner: "0xB", Key: "profile", Content: json.RawMessage(`{"name": "b"}`), CreationTime: 1600000200,
				LastRevisionHash: hashOf("rev3"), LastRevisionTime: 1600000200},
		} {
			if err := tx.PutAggregate(a); err != nil {
				return err
			}
		}
		return nil
	})
	return e
}

func TestAddressAggregates(t *testing.T) {
	e := aggEnv(t)
	body := e.getJSON("/api/v0/aggregates/0xA.json")
	wantKeys(t, "aggregates", body, "address", "data", "info")
	if string(field(t, body, "data")) != `{"profile":{"name": "a", "n": 1},"settings":{"dark": true}}` ||
		str(t, field(t, body, "address")) != "0xA" || string(field(t, body, "info")) != "{}" {
		t.Errorf("aggregates: %s", body)
	}
	body = e.getJSON("/api/v0/aggregates/0xA.json?keys=settings,missing")
	if string(field(t, body, "data")) != `{"settings":{"dark": true}}` {
		t.Errorf("keys filter: %s", body)
	}
	body = e.getJSON("/api/v0/aggregates/0xA.json?keys=profile&with_info=true")
	info := field(t, body, "info", "profile")
	wantKeys(t, "info", info, "created", "last_updated", "original_item_hash", "last_update_item_hash")
	if str(t, field(t, info, "created")) != "2020-09-13 12:26:40+00:00" || str(t, field(t, info, "last_updated")) != "2020-09-13 12:26:40.500000+00:00" ||
		str(t, field(t, info, "original_item_hash")) != hashOf("rev1") || str(t, field(t, info, "last_update_item_hash")) != hashOf("rev1") {
		t.Errorf("with_info: %s", info)
	}
	if got := e.getJSON("/api/v0/aggregates/0xA.json?keys=profile&value_only=true"); string(got) != `{"name": "a", "n": 1}` {
		t.Errorf("value_only: %s", got)
	}
	// value_only needs exactly one key.
	if got := e.getJSON("/api/v0/aggregates/0xA.json?value_only=1"); len(keys(t, got)) != 3 {
		t.Errorf("value_only without one key: %s", got)
	}
	e.wantStatus("/api/v0/aggregates/0xNobody.json", 404)
	e.wantStatus("/api/v0/aggregates/0xA.json?keys=missing", 404)
	e.wantStatus("/api/v0/aggregates/0xA.json?with_info=perhaps", 422)
}

func TestListAggregates(t *testing.T) {
	e := aggEnv(t)
	ids := func(body []byte) []string {
		var out []string
		for _, a := range items(t, body, "aggregates") {
			out = append(out, str(t, field(t, a, "address"))+"/"+str(t, field(t, a, "key")))
		}
		return out
	}
	for _, path := range []string{"/api/v0/aggregates", "/api/v0/aggregates.json"} {
		body := e.getJSON(path)
		wantKeys(t, path, body, "aggregates", "pagination_page", "pagination_total", "pagination_per_page", "pagination_item")
		if got := ids(body); !reflect.DeepEqual(got, []string{"0xA/settings", "0xB/profile", "0xA/profile"}) {
			t.Errorf("%s: %v", path, got)
		}
		a := items(t, body, "aggregates")[0]
		wantKeys(t, "aggregate item", a, "address", "key", "content", "created", "last_updated")
		if str(t, field(t, a, "created")) != "2020-09-13T12:28:20+00:00" || string(field(t, a, "content")) != `{"dark": true}` {
			t.Errorf("aggregate item: %s", a)
		}
	}
	for q, want := range map[string][]string{
		"keys=profile":                     {"0xB/profile", "0xA/profile"},
		"addresses=0xA":                    {"0xA/settings", "0xA/profile"},
		"sortBy=creation_time&sortOrder=1": {"0xA/profile", "0xA/settings", "0xB/profile"},
		"pagination=1&page=2":              {"0xB/profile"},
	} {
		if got := ids(e.getJSON("/api/v0/aggregates.json?" + q)); !reflect.DeepEqual(got, want) {
			t.Errorf("?%s: %v, want %v", q, got, want)
		}
	}
	var got []string
	cursor := ""
	for range 5 {
		body := e.getJSON("/api/v0/aggregates.json?pagination=2&cursor=" + cursor)
		got = append(got, ids(body)...)
		if string(field(t, body, "next_cursor")) == "null" {
			break
		}
		cursor = str(t, field(t, body, "next_cursor"))
	}
	if !reflect.DeepEqual(got, []string{"0xA/settings", "0xB/profile", "0xA/profile"}) {
		t.Errorf("cursor pages: %v", got)
	}
	for _, q := range []string{"pagination=0", "pagination=501", "sortBy=name", "page=0", "cursor=%25"} {
		e.wantStatus("/api/v0/aggregates.json?"+q, 422)
	}
}
