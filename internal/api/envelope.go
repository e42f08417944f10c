package api

import (
	"cmp"
	"encoding/json"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// An envelope form is the key order of one of the API's message shapes,
// all written by writeEnvelope. The orders are the reference node's.
var (
	// listedOrder is the messages.json (and WebSocket) shape.
	listedOrder = []string{"item_hash", "type", "chain", "sender", "signature", "item_type",
		"item_content", "content", "time", "channel", "size", "confirmations", "confirmed"}
	// listedOrderNoContent is listedOrder for a query that asked for no content.
	listedOrderNoContent = withoutKey(listedOrder, "content")
	// processedOrder is the shape of GET /messages/{hash} of a processed
	// (or removing) message.
	processedOrder = []string{"sender", "chain", "signature", "type", "item_content",
		"item_type", "item_hash", "time", "channel", "content", "confirmed", "confirmations"}
	// pendingOrder is the shape of a pending copy.
	pendingOrder = []string{"sender", "chain", "signature", "type", "item_content",
		"item_type", "item_hash", "time", "channel", "content", "reception_time"}
	// forgottenOrder is the skeleton of a forgotten message.
	forgottenOrder = []string{"sender", "chain", "signature", "type", "item_type",
		"item_hash", "time", "channel", "owner", "payment_type", "size", "forgotten_at"}
	// removedOrder is the skeleton of a removed message.
	removedOrder = withoutKey(forgottenOrder, "forgotten_at")
)

// withoutKey returns keys without drop.
func withoutKey(keys []string, drop string) []string {
	var out []string
	for _, k := range keys {
		if k != drop {
			out = append(out, k)
		}
	}
	return out
}

// writeEnvelope writes a message as the object of the given keys, in
// their order. field writes the value of the keys a form writes its own
// way (content, size, an ISO time …) and reports whether it did; every
// other key is an envelope field of m or a constant of the reference
// node's shapes (confirmed, confirmations).
func writeEnvelope(w *jsonw, m *message.Message, keys []string, field func(key string) bool) {
	w.WriteByte('{')
	for _, k := range keys {
		w.key(k)
		if field(k) {
			continue
		}
		switch k {
		case "sender":
			w.str(m.Sender)
		case "chain":
			w.str(m.Chain)
		case "signature":
			w.strOrNull(m.Signature)
		case "type":
			w.str(string(m.Type))
		case "item_type":
			w.str(string(m.ItemType))
		case "item_content":
			if m.ItemType == message.ItemInline {
				w.str(m.ItemContent)
			} else {
				w.WriteString("null")
			}
		case "item_hash":
			w.str(m.ItemHash)
		case "time":
			w.time(m.Time)
		case "channel":
			w.strOrNull(m.Channel)
		default:
			panic("api: envelope key " + k + " has no writer")
		}
	}
	w.WriteByte('}')
}

// writeListedMessage writes a message as messages.json lists it, its
// content whole, as headers or left out as format says.
func writeListedMessage(w *jsonw, rec *store.Record, format contentFormat) {
	keys := listedOrder
	if format == contentNone {
		keys = listedOrderNoContent
	}
	writeEnvelope(w, &rec.Message, keys, func(k string) bool {
		switch k {
		case "content":
			if format == contentHeaders {
				writeContentHeaders(w, rec)
			} else {
				w.raw(rec.Content)
			}
		case "size":
			w.int(rec.Size)
		default:
			return writeConfirmations(w, k, rec.Confirmations)
		}
		return true
	})
}

// confirmationJSON is one item of a message's confirmations.
type confirmationJSON struct {
	Chain  string `json:"chain"`
	Hash   string `json:"hash"`
	Height uint64 `json:"height"`
}

// writeConfirmations writes the value of the key confirmed or
// confirmations of a message confirmed by confs, as the reference node
// does: confirmed is whether any chain carries the message, confirmations
// is [{chain, hash, height}]. It reports false for any other key.
func writeConfirmations(w *jsonw, key string, confs []store.Confirmation) bool {
	switch key {
	case "confirmed":
		if len(confs) > 0 {
			w.WriteString("true")
		} else {
			w.WriteString("false")
		}
	case "confirmations":
		list := make([]confirmationJSON, len(confs))
		for i, c := range confs {
			list[i] = confirmationJSON{Chain: c.Chain, Hash: c.TxHash, Height: c.Height}
		}
		b, _ := json.Marshal(list) // strings and numbers only: cannot fail
		w.Write(b)
	default:
		return false
	}
	return true
}

// writeContentHeaders writes the identifying fields of a content:
// address and, per type, (type, ref), (key) or (item_hash, ref).
func writeContentHeaders(w *jsonw, rec *store.Record) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(rec.Content, &obj) != nil {
		w.WriteString("null")
		return
	}
	keys := []string{"address"}
	switch rec.Type {
	case message.TypePost:
		keys = append(keys, "type", "ref")
	case message.TypeAggregate:
		keys = append(keys, "key")
	case message.TypeStore:
		keys = append(keys, "item_hash", "ref")
	}
	w.WriteByte('{')
	for _, k := range keys {
		if v, ok := obj[k]; ok {
			w.key(k)
			w.raw(v)
		}
	}
	w.WriteByte('}')
}

// writeProcessedMessage writes a message as the reference node's message
// models do (GET /messages/{hash}).
func writeProcessedMessage(w *jsonw, rec *store.Record) {
	writeEnvelope(w, &rec.Message, processedOrder, func(k string) bool {
		if k == "content" {
			w.raw(rec.Content)
			return true
		}
		return writeConfirmations(w, k, rec.Confirmations)
	})
}

// writeForgottenMessage writes the skeleton of a forgotten message.
// writeRemovedMessage writes the skeleton of a removed message (the
// forgotten skeleton's keys but forgotten_at).
func writeRemovedMessage(w *jsonw, rec *store.Record) {
	writeEnvelope(w, &rec.Message, removedOrder, func(k string) bool {
		switch k {
		case "owner":
			w.strOrNull(rec.Owner)
		case "payment_type":
			w.strOrNull(cmp.Or(rec.PaymentType, "hold"))
		case "size":
			w.int(rec.Size)
		default:
			return false
		}
		return true
	})
}

func writeForgottenMessage(w *jsonw, f *store.Forgotten) {
	m := message.Message{
		Sender: f.Sender, Chain: f.Chain, Signature: f.Signature, Type: f.Type,
		ItemType: f.ItemType, ItemHash: f.ItemHash, Time: f.Time, Channel: f.Channel,
	}
	writeEnvelope(w, &m, forgottenOrder, func(k string) bool {
		switch k {
		case "owner":
			w.strOrNull(f.Owner)
		case "payment_type":
			w.strOrNull(f.PaymentType)
		case "size":
			w.int(f.Size)
		case "forgotten_at":
			if f.ForgottenAt > 0 {
				w.time(f.ForgottenAt)
			} else {
				w.WriteString("null")
			}
		default:
			return false
		}
		return true
	})
}

// writePendingMessage writes a pending copy: the envelope with its time as
// an ISO string, the parsed content when inline, and its reception time.
func writePendingMessage(w *jsonw, p *store.Pending) {
	m := p.Message
	writeEnvelope(w, m, pendingOrder, func(k string) bool {
		switch k {
		case "time":
			w.str(pydanticTime(m.Time))
		case "content":
			if m.ItemType == message.ItemInline {
				w.raw([]byte(m.ItemContent))
			} else {
				w.WriteString("null")
			}
		case "reception_time":
			w.str(pydanticTime(p.ReceptionTime))
		default:
			return false
		}
		return true
	})
}
