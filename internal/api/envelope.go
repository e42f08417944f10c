package api

import (
	"encoding/json"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// writeListedMessage writes a message as messages.json lists it:
// {item_hash, type, chain, sender, signature, item_type, item_content,
// content, time, channel, size, confirmations, confirmed}.
func writeListedMessage(w *jsonw, rec *store.Record, format contentFormat) {
	w.WriteString(`{"item_hash":`)
	w.str(rec.ItemHash)
	w.key("type")
	w.str(string(rec.Type))
	w.key("chain")
	w.str(rec.Chain)
	w.key("sender")
	w.str(rec.Sender)
	w.key("signature")
	w.strOrNull(rec.Signature)
	w.key("item_type")
	w.str(string(rec.ItemType))
	w.key("item_content")
	if rec.ItemType == message.ItemInline {
		w.str(rec.ItemContent)
	} else {
		w.WriteString("null")
	}
	switch format {
	case contentFull:
		w.key("content")
		w.raw(rec.Content)
	case contentHeaders:
		w.key("content")
		writeContentHeaders(w, rec)
	}
	w.key("time")
	w.time(rec.Time)
	w.key("channel")
	w.strOrNull(rec.Channel)
	w.key("size")
	w.int(rec.Size)
	w.WriteString(`,"confirmations":[],"confirmed":false}`)
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
// models do (GET /messages/{hash}): {sender, chain, signature, type,
// item_content, item_type, item_hash, time, channel, content, confirmed,
// confirmations}.
func writeProcessedMessage(w *jsonw, rec *store.Record) {
	w.WriteString(`{"sender":`)
	w.str(rec.Sender)
	w.key("chain")
	w.str(rec.Chain)
	w.key("signature")
	w.strOrNull(rec.Signature)
	w.key("type")
	w.str(string(rec.Type))
	w.key("item_content")
	if rec.ItemType == message.ItemInline {
		w.str(rec.ItemContent)
	} else {
		w.WriteString("null")
	}
	w.key("item_type")
	w.str(string(rec.ItemType))
	w.key("item_hash")
	w.str(rec.ItemHash)
	w.key("time")
	w.time(rec.Time)
	w.key("channel")
	w.strOrNull(rec.Channel)
	w.key("content")
	w.raw(rec.Content)
	w.WriteString(`,"confirmed":false,"confirmations":[]}`)
}

// writeForgottenMessage writes the skeleton of a forgotten message:
// {sender, chain, signature, type, item_type, item_hash, time, channel,
// owner, payment_type, size, forgotten_at}.
func writeForgottenMessage(w *jsonw, f *store.Forgotten) {
	w.WriteString(`{"sender":`)
	w.str(f.Sender)
	w.key("chain")
	w.str(f.Chain)
	w.key("signature")
	w.strOrNull(f.Signature)
	w.key("type")
	w.str(string(f.Type))
	w.key("item_type")
	w.str(string(f.ItemType))
	w.key("item_hash")
	w.str(f.ItemHash)
	w.key("time")
	w.time(f.Time)
	w.key("channel")
	w.strOrNull(f.Channel)
	w.key("owner")
	w.strOrNull(f.Owner)
	w.key("payment_type")
	w.strOrNull(f.PaymentType)
	w.key("size")
	w.int(f.Size)
	w.key("forgotten_at")
	if f.ForgottenAt > 0 {
		w.time(f.ForgottenAt)
	} else {
		w.WriteString("null")
	}
	w.WriteByte('}')
}

// writePendingMessage writes a pending copy: the envelope with its time as
// an ISO string, the parsed content when inline, and its reception time.
func writePendingMessage(w *jsonw, p *store.Pending) {
	m := p.Message
	w.WriteString(`{"sender":`)
	w.str(m.Sender)
	w.key("chain")
	w.str(m.Chain)
	w.key("signature")
	w.strOrNull(m.Signature)
	w.key("type")
	w.str(string(m.Type))
	w.key("item_content")
	if m.ItemType == message.ItemInline {
		w.str(m.ItemContent)
	} else {
		w.WriteString("null")
	}
	w.key("item_type")
	w.str(string(m.ItemType))
	w.key("item_hash")
	w.str(m.ItemHash)
	w.key("time")
	w.str(pydanticTime(m.Time))
	w.key("channel")
	w.strOrNull(m.Channel)
	w.key("content")
	if m.ItemType == message.ItemInline {
		w.raw([]byte(m.ItemContent))
	} else {
		w.WriteString("null")
	}
	w.key("reception_time")
	w.str(pydanticTime(p.ReceptionTime))
	w.WriteByte('}')
}
