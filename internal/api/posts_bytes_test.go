package api

import (
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// TestPostV0Bytes pins the exact bytes of the legacy posts.json item for
// a post never amended and for one amended: the message fields come from
// the latest version, the identity from the original.
func TestPostV0Bytes(t *testing.T) {
	orig := store.Record{Message: envInline, Content: []byte(envInline.ItemContent), Size: 75}
	post := store.Post{ItemHash: envInline.ItemHash, Owner: "0xAbC", Type: "t", Ref: "r", Channel: "TEST",
		Content: []byte(`{"a":"<é>"}`), CreationTime: 1.5}
	amend := store.Record{Message: message.Message{Sender: "0xAbC", Chain: "ETH", Type: message.TypePost,
		ItemType: message.ItemStorage, ItemHash: "4444444444444444444444444444444444444444444444444444444444444444",
		Time: 1700000003}, Size: 90}
	amendPost := store.Post{ItemHash: amend.ItemHash, Owner: "0xAbC", Type: "amend", Amends: post.ItemHash,
		Content: []byte(`{"b":1}`), CreationTime: 3}
	cases := []struct {
		name string
		mp   store.MergedPost
		want string
	}{
		{"original", store.MergedPost{Original: orig, Post: post},
			`{"chain":"ETH","item_hash":"1111111111111111111111111111111111111111111111111111111111111111","sender":"0xAbC","type":"t","channel":"TEST","confirmed":false,"content":{"a":"<é>"},"item_content":"{\"address\":\"0xAbC\",\"type\":\"t\",\"ref\":\"r\",\"content\":{\"a\":\"<é>\"},\"time\":1.5}","item_type":"inline","signature":"0xsig","size":75,"time":1700000000.25,"confirmations":[],"original_item_hash":"1111111111111111111111111111111111111111111111111111111111111111","original_signature":"0xsig","original_type":"t","hash":"1111111111111111111111111111111111111111111111111111111111111111","address":"0xAbC","ref":"r"}`},
		{"amended", store.MergedPost{Original: orig, Post: post, Latest: &amend, LatestPost: &amendPost},
			`{"chain":"ETH","item_hash":"4444444444444444444444444444444444444444444444444444444444444444","sender":"0xAbC","type":"amend","channel":"TEST","confirmed":false,"content":{"b":1},"item_content":null,"item_type":"storage","signature":null,"size":90,"time":1700000003.0,"confirmations":[],"original_item_hash":"1111111111111111111111111111111111111111111111111111111111111111","original_signature":"0xsig","original_type":"t","hash":"1111111111111111111111111111111111111111111111111111111111111111","address":"0xAbC","ref":"r"}`},
	}
	for _, c := range cases {
		if got := envBytes(func(w *jsonw) { writePostV0(w, &c.mp) }); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}
