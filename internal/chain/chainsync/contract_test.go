package chainsync

import (
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/goaleph/goaleph/internal/chain/ethreader"
	"github.com/goaleph/goaleph/message"
)

// The STORE content of a STORE_IPFS event is byte for byte the
// reference's: the hash below is sha256 of Python's
// json.dumps({"address": …, "time": 1668611900.0, "item_type": "ipfs",
// "item_hash": …}) for the reference's own test event.
func TestStoreIPFSContentBytes(t *testing.T) {
	c := storeIPFSContent("KT1VBeLD7hzKpj17aRJ3Kc6QQFeikCEXi7W6", 1668611900, "QmaMLRsvmDRCezZe2iebcKWtEzKNjBaQfwcu7mcpdm8eY2")
	want := `{"address": "KT1VBeLD7hzKpj17aRJ3Kc6QQFeikCEXi7W6", "time": 1668611900.0, "item_type": "ipfs", "item_hash": "QmaMLRsvmDRCezZe2iebcKWtEzKNjBaQfwcu7mcpdm8eY2"}`
	if c != want {
		t.Fatalf("content\n%s\nwant\n%s", c, want)
	}
	if h := message.InlineHash(c); h != "1eb440938336b13e7e4ad3f9ebea6de8dbf7fcbdba4c8861ea0a4f70e19e777d" {
		t.Fatalf("hash %s", h)
	}
}

func TestPyString(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:      `"plain"`,
		`q"b\`:       `"q\"b\\"`,
		"tab\tnl\n":  `"tab\tnl\n"`,
		"\x01<&>":    `"\u0001<&>"`,
		"é😀":         `"\u00e9\ud83d\ude00"`,
		"\u2028\x7f": `"\u2028\u007f"`,
	} {
		if got := pyString(in); got != want {
			t.Errorf("pyString(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestContractMessage(t *testing.T) {
	addr := common.HexToAddress("0x00000000000000000000000000000000000000aa")
	ev := &ethreader.Event{Kind: ethreader.MessageEvent, Timestamp: 1700000000, Addr: addr,
		MsgType: "STORE_IPFS", MsgContent: "QmaMLRsvmDRCezZe2iebcKWtEzKNjBaQfwcu7mcpdm8eY2"}
	m, err := contractMessage(ev)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != message.TypeStore || m.Sender != addr.Hex() || m.Chain != "ETH" || m.Signature != "" ||
		m.Time != 1700000000 || m.ItemType != message.ItemInline || m.ItemHash != message.InlineHash(m.ItemContent) ||
		m.ItemContent != storeIPFSContent(addr.Hex(), 1700000000, ev.MsgContent) {
		t.Fatalf("STORE_IPFS message %+v", m)
	}
	ev.MsgType, ev.MsgContent = "POST", `{"type":"x","address":"a","time":1,"content":{}}`
	if m, err = contractMessage(ev); err != nil || m.Type != message.TypePost || m.ItemContent != ev.MsgContent {
		t.Fatalf("POST message %+v, %v", m, err)
	}
	for _, bad := range [][2]string{{"NOPE", `{}`}, {"POST", `not json`}} {
		ev.MsgType, ev.MsgContent = bad[0], bad[1]
		if _, err := contractMessage(ev); err == nil {
			t.Errorf("%s %s: no error", bad[0], bad[1])
		}
	}
}
