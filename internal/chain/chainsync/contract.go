package chainsync

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/goaleph/goaleph/internal/chain/ethreader"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// storeIPFS is the msgtype of a MessageEvent that stores an IPFS file: it
// becomes a STORE message.
const storeIPFS = "STORE_IPFS"

// contractMessage builds the synthetic message of a smart-contract
// MessageEvent (spec core-node §7.2): sent by the event's address on this
// chain, unsigned, at the block's time, of type msgtype with msgcontent as
// its inline content and the content's sha256 as its hash. A STORE_IPFS
// event becomes a STORE of the CID msgcontent, whose content is written
// byte for byte as the reference writes it (Python's json.dumps), so that
// every node derives the same hash.
func contractMessage(ev *ethreader.Event) (*message.Message, error) {
	sender := ev.Addr.Hex()
	typ, content := ev.MsgType, ev.MsgContent
	if typ == storeIPFS {
		typ = string(message.TypeStore)
		content = storeIPFSContent(sender, ev.Timestamp, ev.MsgContent)
	}
	env, err := json.Marshal(map[string]any{
		"sender": sender, "chain": Chain, "signature": nil, "type": typ, "item_type": "inline",
		"item_content": content, "item_hash": message.InlineHash(content), "time": float64(ev.Timestamp),
	})
	if err != nil {
		return nil, err
	}
	return message.ParseUnsigned(env)
}

// storeIPFSContent is the content of the STORE a STORE_IPFS event becomes,
// as the reference writes it: json.dumps of {address, time (a float),
// item_type, item_hash}, with Python's default separators.
func storeIPFSContent(sender string, ts uint64, cid string) string {
	return `{"address": ` + pyString(sender) + `, "time": ` + pySeconds(ts) +
		`, "item_type": "ipfs", "item_hash": ` + pyString(cid) + `}`
}

// pyString writes s as Python's json.dumps does.
func pyString(s string) string {
	var b strings.Builder
	store.PyQuote(&b, s)
	return b.String()
}

// pySeconds writes whole seconds as Python's repr of the float they become
// ("1668611900.0"); block times are far below 1e16, where repr would
// switch to an exponent.
func pySeconds(ts uint64) string { return strconv.FormatUint(ts, 10) + ".0" }
