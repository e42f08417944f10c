package ethreader

import (
	"errors"
	"testing"
)

const testCID = "QmTJvoMmgeVDu2tKaXpY7ZAS2VXWpsETqs7RxfoULKbWd2"

func TestParseSyncMessage(t *testing.T) {
	p, err := ParseSyncMessage([]byte(`{"protocol":"aleph-offchain","version":1,"content":"` + testCID + `"}`))
	if err != nil || p.Protocol != ProtocolOffchain || p.CID.String() != testCID {
		t.Fatalf("offchain: %+v, %v", p, err)
	}
	p, err = ParseSyncMessage([]byte(`{"protocol":"aleph","version":1,"content":{"messages":[{"item_hash":"a"},{"item_hash":"b"}]}}`))
	if err != nil || p.Protocol != ProtocolInline || len(p.Messages) != 2 || string(p.Messages[1]) != `{"item_hash":"b"}` {
		t.Fatalf("inline: %+v, %v", p, err)
	}
	for _, bad := range []string{
		``, `null`, `[]`, `"x"`, `{}`,
		`{"protocol":"aleph-offchain","content":"` + testCID + `"}`,
		`{"protocol":"aleph-offchain","version":2,"content":"` + testCID + `"}`,
		`{"protocol":"aleph-offchain","version":1,"content":"not a cid"}`,
		`{"protocol":"aleph-offchain","version":1,"content":{"cid":"x"}}`,
		`{"protocol":"aleph-offchain","version":1}`,
		`{"protocol":"other","version":1,"content":"x"}`,
		`{"protocol":"aleph","version":1,"content":"` + testCID + `"}`,
		`{"protocol":"aleph","version":1,"content":{}}`,
		`{"protocol":"aleph","version":1,"content":{"messages":null}}`,
		`{"protocol":"aleph","version":1,"content":{"messages":{}}}`,
	} {
		if _, err := ParseSyncMessage([]byte(bad)); !errors.Is(err, ErrPayload) {
			t.Errorf("ParseSyncMessage(%q) = %v, want ErrPayload", bad, err)
		}
	}
}

// An entry that is not a message does not make the payload invalid: the
// reader counts and skips it, and takes the other messages.
func TestParseKeepsEveryEntry(t *testing.T) {
	p, err := ParseSyncMessage([]byte(`{"protocol":"aleph","version":1,"content":{"messages":[1,null,{"item_hash":"a"},"x"]}}`))
	if err != nil || len(p.Messages) != 4 || string(p.Messages[2]) != `{"item_hash":"a"}` || string(p.Messages[1]) != "null" {
		t.Fatalf("inline payload with non-messages: %+v, %v", p, err)
	}
}

func TestParseArchive(t *testing.T) {
	msgs, err := ParseArchive([]byte(`{"protocol":"aleph","version":1,"content":{"messages":[]}}`))
	if err != nil || len(msgs) != 0 {
		t.Fatalf("empty archive: %v, %v", msgs, err)
	}
	if _, err := ParseArchive([]byte(`{"protocol":"aleph-offchain","version":1,"content":"` + testCID + `"}`)); !errors.Is(err, ErrPayload) {
		t.Fatalf("a pointer is not an archive: %v", err)
	}
}

func FuzzParseSyncMessage(f *testing.F) {
	f.Add([]byte(`{"protocol":"aleph-offchain","version":1,"content":"` + testCID + `"}`))
	f.Add([]byte(`{"protocol":"aleph","version":1,"content":{"messages":[{"item_hash":"a"}]}}`))
	f.Add([]byte(`{"protocol":"aleph","version":1,"content":{"messages":[1]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseSyncMessage(data)
		if err != nil {
			if !errors.Is(err, ErrPayload) {
				t.Fatalf("error not wrapping ErrPayload: %v", err)
			}
			return
		}
		switch p.Protocol {
		case ProtocolOffchain:
			if !p.CID.Defined() || p.Messages != nil {
				t.Fatalf("offchain payload %+v", p)
			}
		case ProtocolInline:
			if p.Messages == nil {
				t.Fatal("inline payload without messages")
			}
		default:
			t.Fatalf("protocol %q", p.Protocol)
		}
		if _, err := ParseArchive(data); (err == nil) != (p.Protocol == ProtocolInline) {
			t.Fatalf("ParseArchive disagrees with ParseSyncMessage: %v", err)
		}
	})
}
