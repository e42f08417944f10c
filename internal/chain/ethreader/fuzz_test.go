package ethreader

import (
	"encoding/json"
	"errors"
	"math/big"
	"reflect"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/goaleph/goaleph/message"
)

// FuzzDecode feeds arbitrary log data under both AlephSync topics (and
// another) to Decode: it never panics, refuses with ErrNotAlephLog, and
// what it accepts packs back into data that decodes to the same event.
func FuzzDecode(f *testing.F) {
	contract := common.HexToAddress("0x166fd4299364B21c7567e163d85D78d2fb2f8Ad5")
	r, err := New(Config{Chain: "ETH", Contract: contract}, &failingSource{}, &MemHeights{})
	if err != nil {
		f.Fatal(err)
	}
	sync, msg := r.abi.Events["SyncEvent"], r.abi.Events["MessageEvent"]
	addr := common.HexToAddress("0x23eC28598DCeB2f7082Cc3a9D670592DfEd6e0dC")
	good, err := sync.Inputs.Pack(big.NewInt(1_700_000_000), addr, `{"protocol":"aleph","version":1,"content":{"messages":[]}}`)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(0), good)
	if good, err = msg.Inputs.Pack(big.NewInt(1_700_000_000), addr, "POST", `{"type":"x"}`); err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(1), good)
	f.Add(uint8(0), []byte{1, 2, 3})
	f.Add(uint8(2), make([]byte, 96))
	f.Fuzz(func(t *testing.T, topic uint8, data []byte) {
		id := []common.Hash{r.syncID, r.msgID, {7}}[int(topic)%3]
		l := types.Log{Address: contract, Topics: []common.Hash{id}, Data: data, BlockNumber: 5, Index: 1}
		ev, err := r.Decode(&l)
		if err != nil {
			if !errors.Is(err, ErrNotAlephLog) {
				t.Fatalf("error not wrapping ErrNotAlephLog: %v", err)
			}
			return
		}
		var packed []byte
		ts := new(big.Int).SetUint64(ev.Timestamp)
		switch ev.Kind {
		case SyncEvent:
			packed, err = sync.Inputs.Pack(ts, ev.Addr, ev.Message)
		case MessageEvent:
			packed, err = msg.Inputs.Pack(ts, ev.Addr, ev.MsgType, ev.MsgContent)
		default:
			t.Fatalf("kind %v", ev.Kind)
		}
		if err != nil {
			t.Fatal(err)
		}
		l.Data = packed
		again, err := r.Decode(&l)
		if err != nil || !reflect.DeepEqual(again, ev) {
			t.Fatalf("decoded %+v, packed again and decoded %+v, %v", ev, again, err)
		}
	})
}

// FuzzParseArchive: ParseArchive never panics and refuses with ErrPayload;
// every entry it returns is JSON, which message.Parse takes or refuses
// without panicking.
func FuzzParseArchive(f *testing.F) {
	f.Add([]byte(`{"protocol":"aleph","version":1,"content":{"messages":[{"item_hash":"a"},1,null]}}`))
	f.Add([]byte(`{"protocol":"aleph","version":1,"content":{"messages":[{"chain":"ETH","sender":"0x23eC28598DCeB2f7082Cc3a9D670592DfEd6e0dC","type":"POST","item_type":"inline","item_content":"{}","item_hash":"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","time":1,"signature":"0x00"}]}}`))
	f.Add([]byte(`{"protocol":"aleph-offchain","version":1,"content":"` + testCID + `"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := ParseArchive(data)
		if err != nil {
			if !errors.Is(err, ErrPayload) {
				t.Fatalf("error not wrapping ErrPayload: %v", err)
			}
			return
		}
		if msgs == nil {
			t.Fatal("nil messages without an error")
		}
		for _, raw := range msgs {
			if !json.Valid(raw) {
				t.Fatalf("entry %q is not JSON", raw)
			}
			if m, err := message.Parse(raw); err == nil && m == nil {
				t.Fatalf("entry %q: no message and no error", raw)
			}
		}
	})
}
