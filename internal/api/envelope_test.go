package api

import (
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// Fixed records for the envelope writers: one inline message with a
// signature and a channel, one storage message without either (the
// nulls), and a forgotten skeleton of each kind.
var (
	envInline = message.Message{
		Sender: "0xAbC", Chain: "ETH", Signature: "0xsig", Type: message.TypePost,
		ItemType: message.ItemInline, ItemContent: `{"address":"0xAbC","type":"t","ref":"r","content":{"a":"<é>"},"time":1.5}`,
		ItemHash: "1111111111111111111111111111111111111111111111111111111111111111",
		Time:     1700000000.25, Channel: "TEST",
	}
	envStorage = message.Message{
		Sender: "0xDeF", Chain: "SOL", Type: message.TypeStore, ItemType: message.ItemStorage,
		ItemHash: "2222222222222222222222222222222222222222222222222222222222222222",
		Time:     1700000001,
	}
	envRecords = []store.Record{
		{Message: envInline, Content: []byte(envInline.ItemContent), Size: 75},
		{Message: envStorage, Content: []byte(`{"address":"0xDeF","item_type":"storage","item_hash":"ab","ref":"x","time":2}`), Size: 80},
	}
	envForgotten = []store.Forgotten{
		{ItemHash: envInline.ItemHash, Type: envInline.Type, Chain: envInline.Chain, Sender: envInline.Sender,
			Signature: envInline.Signature, ItemType: envInline.ItemType, Time: envInline.Time, Channel: envInline.Channel,
			Owner: "0xAbC", PaymentType: "hold", Size: 75, ForgottenAt: 1700000100.5, ForgottenBy: []string{"3333"}},
		{ItemHash: envStorage.ItemHash, Type: envStorage.Type, Chain: envStorage.Chain, Sender: envStorage.Sender,
			ItemType: envStorage.ItemType, Time: envStorage.Time},
	}
)

func envBytes(write func(w *jsonw)) string {
	var w jsonw
	write(&w)
	return w.String()
}

// TestEnvelopeBytes pins the exact bytes each envelope writer produces
// for the fixed records: the key order and the nulls are the reference
// node's and the API's clients compare them.
func TestEnvelopeBytes(t *testing.T) {
	cases := []struct {
		name string
		got  string
		want string
	}{
		{"listed 0 contentFull", envBytes(func(w *jsonw) { writeListedMessage(w, &envRecords[0], contentFull) }),
			`{"item_hash":"1111111111111111111111111111111111111111111111111111111111111111","type":"POST","chain":"ETH","sender":"0xAbC","signature":"0xsig","item_type":"inline","item_content":"{\"address\":\"0xAbC\",\"type\":\"t\",\"ref\":\"r\",\"content\":{\"a\":\"<é>\"},\"time\":1.5}","content":{"address":"0xAbC","type":"t","ref":"r","content":{"a":"<é>"},"time":1.5},"time":1700000000.25,"channel":"TEST","size":75,"confirmations":[],"confirmed":false}`},
		{"listed 0 contentHeaders", envBytes(func(w *jsonw) { writeListedMessage(w, &envRecords[0], contentHeaders) }),
			`{"item_hash":"1111111111111111111111111111111111111111111111111111111111111111","type":"POST","chain":"ETH","sender":"0xAbC","signature":"0xsig","item_type":"inline","item_content":"{\"address\":\"0xAbC\",\"type\":\"t\",\"ref\":\"r\",\"content\":{\"a\":\"<é>\"},\"time\":1.5}","content":{"address":"0xAbC","type":"t","ref":"r"},"time":1700000000.25,"channel":"TEST","size":75,"confirmations":[],"confirmed":false}`},
		{"listed 0 contentNone", envBytes(func(w *jsonw) { writeListedMessage(w, &envRecords[0], contentNone) }),
			`{"item_hash":"1111111111111111111111111111111111111111111111111111111111111111","type":"POST","chain":"ETH","sender":"0xAbC","signature":"0xsig","item_type":"inline","item_content":"{\"address\":\"0xAbC\",\"type\":\"t\",\"ref\":\"r\",\"content\":{\"a\":\"<é>\"},\"time\":1.5}","time":1700000000.25,"channel":"TEST","size":75,"confirmations":[],"confirmed":false}`},
		{"processed 0", envBytes(func(w *jsonw) { writeProcessedMessage(w, &envRecords[0]) }),
			`{"sender":"0xAbC","chain":"ETH","signature":"0xsig","type":"POST","item_content":"{\"address\":\"0xAbC\",\"type\":\"t\",\"ref\":\"r\",\"content\":{\"a\":\"<é>\"},\"time\":1.5}","item_type":"inline","item_hash":"1111111111111111111111111111111111111111111111111111111111111111","time":1700000000.25,"channel":"TEST","content":{"address":"0xAbC","type":"t","ref":"r","content":{"a":"<é>"},"time":1.5},"confirmed":false,"confirmations":[]}`},
		{"pending 0", envBytes(func(w *jsonw) {
			writePendingMessage(w, &store.Pending{Message: &envInline, ReceptionTime: 1700000002.125})
		}),
			`{"sender":"0xAbC","chain":"ETH","signature":"0xsig","type":"POST","item_content":"{\"address\":\"0xAbC\",\"type\":\"t\",\"ref\":\"r\",\"content\":{\"a\":\"<é>\"},\"time\":1.5}","item_type":"inline","item_hash":"1111111111111111111111111111111111111111111111111111111111111111","time":"2023-11-14T22:13:20.250000Z","channel":"TEST","content":{"address":"0xAbC","type":"t","ref":"r","content":{"a":"<é>"},"time":1.5},"reception_time":"2023-11-14T22:13:22.125000Z"}`},
		{"forgotten 0", envBytes(func(w *jsonw) { writeForgottenMessage(w, &envForgotten[0]) }),
			`{"sender":"0xAbC","chain":"ETH","signature":"0xsig","type":"POST","item_type":"inline","item_hash":"1111111111111111111111111111111111111111111111111111111111111111","time":1700000000.25,"channel":"TEST","owner":"0xAbC","payment_type":"hold","size":75,"forgotten_at":1700000100.5}`},
		{"listed 1 contentFull", envBytes(func(w *jsonw) { writeListedMessage(w, &envRecords[1], contentFull) }),
			`{"item_hash":"2222222222222222222222222222222222222222222222222222222222222222","type":"STORE","chain":"SOL","sender":"0xDeF","signature":null,"item_type":"storage","item_content":null,"content":{"address":"0xDeF","item_type":"storage","item_hash":"ab","ref":"x","time":2},"time":1700000001.0,"channel":null,"size":80,"confirmations":[],"confirmed":false}`},
		{"listed 1 contentHeaders", envBytes(func(w *jsonw) { writeListedMessage(w, &envRecords[1], contentHeaders) }),
			`{"item_hash":"2222222222222222222222222222222222222222222222222222222222222222","type":"STORE","chain":"SOL","sender":"0xDeF","signature":null,"item_type":"storage","item_content":null,"content":{"address":"0xDeF","item_hash":"ab","ref":"x"},"time":1700000001.0,"channel":null,"size":80,"confirmations":[],"confirmed":false}`},
		{"listed 1 contentNone", envBytes(func(w *jsonw) { writeListedMessage(w, &envRecords[1], contentNone) }),
			`{"item_hash":"2222222222222222222222222222222222222222222222222222222222222222","type":"STORE","chain":"SOL","sender":"0xDeF","signature":null,"item_type":"storage","item_content":null,"time":1700000001.0,"channel":null,"size":80,"confirmations":[],"confirmed":false}`},
		{"processed 1", envBytes(func(w *jsonw) { writeProcessedMessage(w, &envRecords[1]) }),
			`{"sender":"0xDeF","chain":"SOL","signature":null,"type":"STORE","item_content":null,"item_type":"storage","item_hash":"2222222222222222222222222222222222222222222222222222222222222222","time":1700000001.0,"channel":null,"content":{"address":"0xDeF","item_type":"storage","item_hash":"ab","ref":"x","time":2},"confirmed":false,"confirmations":[]}`},
		{"pending 1", envBytes(func(w *jsonw) {
			writePendingMessage(w, &store.Pending{Message: &envStorage, ReceptionTime: 1700000002.125})
		}),
			`{"sender":"0xDeF","chain":"SOL","signature":null,"type":"STORE","item_content":null,"item_type":"storage","item_hash":"2222222222222222222222222222222222222222222222222222222222222222","time":"2023-11-14T22:13:21Z","channel":null,"content":null,"reception_time":"2023-11-14T22:13:22.125000Z"}`},
		{"forgotten 1", envBytes(func(w *jsonw) { writeForgottenMessage(w, &envForgotten[1]) }),
			`{"sender":"0xDeF","chain":"SOL","signature":null,"type":"STORE","item_type":"storage","item_hash":"2222222222222222222222222222222222222222222222222222222222222222","time":1700000001.0,"channel":null,"owner":null,"payment_type":null,"size":0,"forgotten_at":null}`},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, c.got, c.want)
		}
	}
}
