package api

import (
	"encoding/json"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

func TestAddressStats(t *testing.T) {
	e := newEnv(t)
	e.insert(
		newRec(rec{sender: "0xA", time: 1, ptype: "t", salt: "1"}),
		newRec(rec{sender: "0xA", time: 2, ptype: "t", salt: "2"}),
		newRec(rec{typ: message.TypeStore, sender: "0xA", time: 3, fileHash: hashOf("f")}),
		newRec(rec{typ: message.TypeForget, sender: "0xB", time: 4}),
	)
	body := e.getJSON("/api/v0/addresses/stats.json?addresses[]=0xA&addresses[]=0xB&addresses[]=0xC")
	want := `{"data":{"0xA":{"messages":3,"aggregate":0,"forget":0,"instance":0,"post":2,"program":0,"store":1},` +
		`"0xB":{"messages":1,"aggregate":0,"forget":1,"instance":0,"post":0,"program":0,"store":0}}}`
	if string(body) != want {
		t.Errorf("stats:\n got %s\nwant %s", body, want)
	}
	if body := e.getJSON("/api/v0/addresses/stats.json?addresses=0xB"); string(field(t, body, "data", "0xB", "forget")) != "1" || len(keys(t, field(t, body, "data"))) != 1 {
		t.Errorf("stats of one address: %s", body)
	}
}

func TestChannelsAndInfo(t *testing.T) {
	e := newEnv(t)
	if got := e.getJSON("/api/v0/channels/list.json"); string(got) != `{"channels":[]}` {
		t.Errorf("no channels: %s", got)
	}
	e.insert(
		newRec(rec{sender: "0xA", time: 1, channel: "TEST", ptype: "t", salt: "1"}),
		newRec(rec{sender: "0xA", time: 2, channel: "ALEPH", ptype: "t", salt: "2"}),
		newRec(rec{sender: "0xA", time: 3, ptype: "t", salt: "3"}),
	)
	if got := e.getJSON("/api/v0/channels/list.json"); string(got) != `{"channels":["ALEPH","TEST"]}` {
		t.Errorf("channels: %s", got)
	}
	if got := e.getJSON("/api/v0/info/public.json"); string(got) != `{"node_multi_addresses":[]}` {
		t.Errorf("public info: %s", got)
	}
}

func TestAuthorizations(t *testing.T) {
	e := newEnv(t)
	e.update(func(tx store.Tx) error {
		for owner, content := range map[string]string{
			"0xOwner": `{"authorizations":[{"address":"0xD1","types":["POST"],"channels":["blog"]},` +
				`{"chain":"ETH","address":"0xD2"},{"address":"0xD1","types":["AGGREGATE"],"aggregate_keys":["profile"]}]}`,
			"0xOther": `{"authorizations":[{"address":"0xD1","post_types":["comment"]}]}`,
			"0xNone":  `{"authorizations":[]}`,
		} {
			if err := tx.PutAggregate(&store.Aggregate{Owner: owner, Key: "security", Content: json.RawMessage(content),
				CreationTime: 1, LastRevisionHash: hashOf(owner), LastRevisionTime: 1}); err != nil {
				return err
			}
		}
		return nil
	})
	body := e.getJSON("/api/v0/authorizations/granted/0xOwner.json")
	wantKeys(t, "granted", body, "authorizations", "pagination_page", "pagination_per_page", "pagination_total", "pagination_item", "address")
	if got, want := string(field(t, body, "authorizations")),
		`{"0xD1":[{"types":["POST"],"channels":["blog"]},{"types":["AGGREGATE"],"aggregate_keys":["profile"]}],"0xD2":[{"chain":"ETH"}]}`; got != want {
		t.Errorf("granted:\n got %s\nwant %s", got, want)
	}
	if num(t, field(t, body, "pagination_total")) != 2 || str(t, field(t, body, "address")) != "0xOwner" ||
		str(t, field(t, body, "pagination_item")) != "authorizations" {
		t.Errorf("granted: %s", body)
	}
	for q, want := range map[string]string{
		"types=AGGREGATE":          `{"0xD1":[{"types":["AGGREGATE"],"aggregate_keys":["profile"]}],"0xD2":[{"chain":"ETH"}]}`,
		"grantee=0xD2":             `{"0xD2":[{"chain":"ETH"}]}`,
		"chains=SOL":               `{"0xD1":[{"types":["POST"],"channels":["blog"]},{"types":["AGGREGATE"],"aggregate_keys":["profile"]}]}`,
		"pagination=1&page=2":      `{"0xD2":[{"chain":"ETH"}]}`,
		"channels=news&types=POST": `{"0xD2":[{"chain":"ETH"}]}`,
	} {
		if got := string(field(t, e.getJSON("/api/v0/authorizations/granted/0xOwner.json?"+q), "authorizations")); got != want {
			t.Errorf("granted ?%s:\n got %s\nwant %s", q, got, want)
		}
	}
	if got := string(field(t, e.getJSON("/api/v0/authorizations/granted/0xNobody.json"), "authorizations")); got != "{}" {
		t.Errorf("granted by nobody: %s", got)
	}
	body = e.getJSON("/api/v0/authorizations/received/0xD1.json")
	if got, want := string(field(t, body, "authorizations")),
		`{"0xOther":[{"post_types":["comment"]}],"0xOwner":[{"types":["POST"],"channels":["blog"]},{"types":["AGGREGATE"],"aggregate_keys":["profile"]}]}`; got != want {
		t.Errorf("received:\n got %s\nwant %s", got, want)
	}
	if got := string(field(t, e.getJSON("/api/v0/authorizations/received/0xD1.json?granter=0xOther"), "authorizations")); got != `{"0xOther":[{"post_types":["comment"]}]}` {
		t.Errorf("received from one granter: %s", got)
	}
	e.wantStatus("/api/v0/authorizations/granted/0xOwner.json?pagination=0", 422)
	e.wantStatus("/api/v0/authorizations/received/0xD1.json?page=x", 422)
}

func TestAddressFiles(t *testing.T) {
	e := newEnv(t)
	e.update(func(tx store.Tx) error {
		for _, f := range []store.File{{Hash: "aa", Size: 10, Type: "file"}, {Hash: "bb", Size: 5, Type: "file"}} {
			if err := tx.UpsertFile(&f); err != nil {
				return err
			}
		}
		for _, p := range []store.Pin{
			{FileHash: "aa", Type: store.PinMessage, Owner: "0xA", ItemHash: hashOf("s1"), Created: 1.5},
			{FileHash: "bb", Type: store.PinMessage, Owner: "0xA", ItemHash: hashOf("s2"), Created: 2},
			{FileHash: "bb", Type: store.PinMessage, Owner: "0xB", ItemHash: hashOf("s3"), Created: 3},
		} {
			if err := tx.AddPin(&p); err != nil {
				return err
			}
		}
		return nil
	})
	body := e.getJSON("/api/v0/addresses/0xA/files")
	want := `{"address":"0xA","total_size":15,"files":[` +
		`{"file_hash":"bb","size":5,"type":"file","created":"1970-01-01T00:00:02Z","item_hash":"` + hashOf("s2") + `"},` +
		`{"file_hash":"aa","size":10,"type":"file","created":"1970-01-01T00:00:01.500000Z","item_hash":"` + hashOf("s1") + `"}],` +
		`"pagination_page":1,"pagination_total":2,"pagination_per_page":100}`
	if string(body) != want {
		t.Errorf("files:\n got %s\nwant %s", body, want)
	}
	body = e.getJSON("/api/v0/addresses/0xA/files?pagination=1&page=2&sort_order=1")
	if got := items(t, body, "files"); len(got) != 1 || string(field(t, got[0], "file_hash")) != `"bb"` {
		t.Errorf("page 2 ascending: %s", body)
	}
	if got := string(field(t, body, "total_size")); got != "15" {
		t.Errorf("total_size of a page: %s", body)
	}
	e.wantStatus("/api/v0/addresses/0xNobody/files", 404)
	e.wantStatus("/api/v0/addresses/0xA/files?sort_order=2", 422)
	e.wantStatus("/api/v0/addresses/0xA/files?page=0", 422)
}
