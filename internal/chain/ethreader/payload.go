package ethreader

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
)

// Payload protocols of a SyncEvent message (spec core-node §7.1) and the
// protocol name the reference gives MessageEvents.
const (
	ProtocolOffchain      = "aleph-offchain" // the message is a pointer to an archive CID
	ProtocolInline        = "aleph"          // the message holds the messages itself (legacy)
	ProtocolSmartContract = "smart-contract" // a MessageEvent
)

// MaxPayload bounds the size of a SyncEvent message or archive that the
// parsers accept; the reference's archives hold at most 10,000 messages.
const MaxPayload = 64 << 20

// ErrPayload marks a SyncEvent message or archive that is not a valid
// Aleph payload; readers count and skip such events.
var ErrPayload = errors.New("invalid aleph payload")

// Payload is a parsed SyncEvent message: either a pointer to an archive
// (Protocol == ProtocolOffchain, CID set) or inline messages (Protocol ==
// ProtocolInline, Messages set). Each message is kept as raw JSON: it goes
// through the node's normal envelope parsing and checks.
type Payload struct {
	Protocol string
	CID      cid.Cid
	Messages []json.RawMessage
}

type envelope struct {
	Protocol *string         `json:"protocol"`
	Version  *int            `json:"version"`
	Content  json.RawMessage `json:"content"`
}

type archiveContent struct {
	Messages []json.RawMessage `json:"messages"`
}

// ParseSyncMessage parses the string a SyncEvent carries.
func ParseSyncMessage(message []byte) (Payload, error) {
	env, err := parseEnvelope(message)
	if err != nil {
		return Payload{}, err
	}
	switch *env.Protocol {
	case ProtocolOffchain:
		var s string
		if err := json.Unmarshal(env.Content, &s); err != nil {
			return Payload{}, fmt.Errorf("%w: aleph-offchain content is not a string", ErrPayload)
		}
		c, err := cid.Decode(s)
		if err != nil {
			return Payload{}, fmt.Errorf("%w: aleph-offchain content %q is not a CID", ErrPayload, truncate(s))
		}
		return Payload{Protocol: ProtocolOffchain, CID: c}, nil
	case ProtocolInline:
		msgs, err := parseMessages(env.Content)
		if err != nil {
			return Payload{}, err
		}
		return Payload{Protocol: ProtocolInline, Messages: msgs}, nil
	default:
		return Payload{}, fmt.Errorf("%w: unknown protocol %q", ErrPayload, truncate(*env.Protocol))
	}
}

// ParseArchive parses an archive file fetched by the CID of an
// aleph-offchain pointer: {"protocol":"aleph","version":1,"content":{"messages":[…]}}.
func ParseArchive(data []byte) ([]json.RawMessage, error) {
	env, err := parseEnvelope(data)
	if err != nil {
		return nil, err
	}
	if *env.Protocol != ProtocolInline {
		return nil, fmt.Errorf("%w: archive protocol %q, want %q", ErrPayload, truncate(*env.Protocol), ProtocolInline)
	}
	return parseMessages(env.Content)
}

func parseEnvelope(data []byte) (envelope, error) {
	var env envelope
	if len(data) > MaxPayload {
		return env, fmt.Errorf("%w: %d bytes, more than %d", ErrPayload, len(data), MaxPayload)
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return env, fmt.Errorf("%w: not a JSON object", ErrPayload)
	}
	if env.Protocol == nil {
		return env, fmt.Errorf("%w: no protocol", ErrPayload)
	}
	if env.Version == nil || *env.Version != 1 {
		return env, fmt.Errorf("%w: version is not 1", ErrPayload)
	}
	if len(env.Content) == 0 {
		return env, fmt.Errorf("%w: no content", ErrPayload)
	}
	return env, nil
}

func parseMessages(content json.RawMessage) ([]json.RawMessage, error) {
	var c archiveContent
	if err := json.Unmarshal(content, &c); err != nil {
		return nil, fmt.Errorf("%w: content is not an object with a messages list", ErrPayload)
	}
	if c.Messages == nil {
		return nil, fmt.Errorf("%w: no messages list", ErrPayload)
	}
	// Entries are not checked here: one that is not a message (not even
	// an object) is the reader's to count and skip, and the archive's other
	// messages still count.
	return c.Messages, nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
