package chainsync

import (
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/goaleph/goaleph/internal/chain/ethreader"
	"github.com/goaleph/goaleph/message"
)

// FuzzContractMessage: any MessageEvent (type, content, sender, time)
// becomes an unsigned inline message of the event's sender whose hash is
// its content's, or is refused; it never panics. A STORE_IPFS event
// becomes a STORE whose content holds the CID as a JSON string.
func FuzzContractMessage(f *testing.F) {
	f.Add([]byte{1}, uint64(1668611900), "POST", `{"type":"x","address":"0x01","time":1,"content":{}}`)
	f.Add([]byte{2}, uint64(0), storeIPFS, "QmTJvoMmgeVDu2tKaXpY7ZAS2VXWpsETqs7RxfoULKbWd2")
	f.Add([]byte{3}, ^uint64(0), storeIPFS, "\"\\\u2028\xff")
	f.Add([]byte{}, uint64(5), "AGGREGATE", "not json")
	f.Fuzz(func(t *testing.T, addr []byte, ts uint64, msgtype, msgcontent string) {
		ev := &ethreader.Event{Kind: ethreader.MessageEvent, Addr: common.BytesToAddress(addr), Timestamp: ts,
			MsgType: msgtype, MsgContent: msgcontent}
		m, err := contractMessage(ev)
		if err != nil {
			return
		}
		if m.Sender != ev.Addr.Hex() || m.Chain != Chain || m.Signature != "" || m.ItemType != message.ItemInline {
			t.Fatalf("message %+v of event %+v", m, ev)
		}
		if m.ItemHash != message.InlineHash(m.ItemContent) {
			t.Fatalf("item hash %s is not its content's", m.ItemHash)
		}
		if msgtype == storeIPFS {
			if m.Type != message.TypeStore || !strings.Contains(m.ItemContent, `"item_hash": `+pyString(msgcontent)+`}`) {
				t.Fatalf("STORE_IPFS event became %s %s", m.Type, m.ItemContent)
			}
		} else if m.ItemContent != msgcontent || string(m.Type) != msgtype {
			t.Fatalf("event %q %q became %s %q", msgtype, msgcontent, m.Type, m.ItemContent)
		}
	})
}
