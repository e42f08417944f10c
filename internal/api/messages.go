package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// ---- JSON output ----------------------------------------------------------

// jsonw builds a JSON document by hand, so that message contents are
// copied as stored (never decoded and re-encoded) and keys come in the
// reference node's order. Strings are escaped as Python's JSON encoders of
// the reference node do (no HTML escaping).
type jsonw struct{ bytes.Buffer }

// str writes a JSON string.
func (w *jsonw) str(s string) {
	w.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			w.WriteString(s[start:i])
			switch c {
			case '"':
				w.WriteString(`\"`)
			case '\\':
				w.WriteString(`\\`)
			case '\n':
				w.WriteString(`\n`)
			case '\r':
				w.WriteString(`\r`)
			case '\t':
				w.WriteString(`\t`)
			case '\b':
				w.WriteString(`\b`)
			case '\f':
				w.WriteString(`\f`)
			default:
				fmt.Fprintf(w, `\u%04x`, c)
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			w.WriteString(s[start:i])
			w.WriteString(`\ufffd`)
			i++
			start = i
			continue
		}
		i += size
	}
	w.WriteString(s[start:])
	w.WriteByte('"')
}

// strOrNull writes s, or null when s is empty.
func (w *jsonw) strOrNull(s string) {
	if s == "" {
		w.WriteString("null")
		return
	}
	w.str(s)
}

// key writes `"k":`, preceded by a comma unless it opens an object.
func (w *jsonw) key(k string) {
	if b := w.Bytes(); len(b) > 0 && b[len(b)-1] != '{' {
		w.WriteByte(',')
	}
	w.str(k)
	w.WriteByte(':')
}

// raw writes a stored JSON value as is (null when empty).
func (w *jsonw) raw(b []byte) {
	if len(bytes.TrimSpace(b)) == 0 {
		w.WriteString("null")
		return
	}
	w.Write(b)
}

// time writes an epoch time as a float, as the reference node does.
func (w *jsonw) time(t float64) { w.WriteString(message.FormatTime(t)) }

func (w *jsonw) int(n int64) { w.WriteString(strconv.FormatInt(n, 10)) }

func (w *jsonw) bool(b bool) { w.WriteString(strconv.FormatBool(b)) }

// value writes any Go value with encoding/json (no HTML escaping).
func (w *jsonw) value(v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		w.WriteString("null")
		return
	}
	w.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

// send writes the document with status code.
func (w *jsonw) send(rw http.ResponseWriter, code int) {
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	rw.Header().Set("Content-Length", strconv.Itoa(w.Len()))
	rw.WriteHeader(code)
	rw.Write(w.Bytes())
}

// isoTime formats an epoch time at microsecond precision (the reference
// node stores timestamps with microseconds) as Python does: with "Z" like
// pydantic (zulu), else with "+00:00" like datetime.isoformat(); sep is
// 'T', or ' ' for str(datetime).
func isoTime(t float64, sep byte, zulu bool) string {
	us := int64(math.Round(t * 1e6))
	tm := time.UnixMicro(us).UTC()
	var b strings.Builder
	b.WriteString(tm.Format("2006-01-02"))
	b.WriteByte(sep)
	b.WriteString(tm.Format("15:04:05"))
	if frac := us % 1e6; frac != 0 {
		if frac < 0 {
			frac += 1e6
		}
		fmt.Fprintf(&b, ".%06d", frac)
	}
	if zulu {
		b.WriteByte('Z')
	} else {
		b.WriteString("+00:00")
	}
	return b.String()
}

// pydanticTime is how the reference node's response models write datetimes.
func pydanticTime(t float64) string { return isoTime(t, 'T', true) }

// ---- query parameters -----------------------------------------------------

// params reads query parameters and keeps the first validation error.
type params struct {
	r   *http.Request
	q   url.Values
	err error
}

func newParams(r *http.Request) *params { return &params{r: r, q: r.URL.Query()} }

func (p *params) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
	}
}

// has reports whether the parameter is present (even empty).
func (p *params) has(name string) bool {
	_, ok := p.q[name]
	return ok
}

func (p *params) get(name string) (string, bool) {
	v, ok := p.q[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func (p *params) list(name string) []string { return listParam(p.r, name) }

// int reads an integer in [lo, hi] (hi < lo: no upper bound).
func (p *params) int(name string, def, lo, hi int) int {
	s, ok := p.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		p.fail("%s: %q is not an integer", name, s)
		return def
	}
	if n < lo || (hi >= lo && n > hi) {
		if hi >= lo {
			p.fail("%s: %d is not between %d and %d", name, n, lo, hi)
		} else {
			p.fail("%s: %d is less than %d", name, n, lo)
		}
		return def
	}
	return n
}

// float reads a non-negative number.
func (p *params) float(name string) float64 {
	s, ok := p.get(name)
	if !ok || s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.fail("%s: %q is not a number", name, s)
		return 0
	}
	if f < 0 {
		p.fail("%s: %v is negative", name, f)
		return 0
	}
	return f
}

// bool reads a boolean the way pydantic does.
func (p *params) bool(name string, def bool) bool {
	s, ok := p.get(name)
	if !ok {
		return def
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "t", "yes", "y", "on":
		return true
	case "0", "false", "f", "no", "n", "off":
		return false
	}
	p.fail("%s: %q is not a boolean", name, s)
	return def
}

// sortOrder reads sortOrder: -1 (newest first, default) or 1.
func (p *params) sortAsc() bool {
	switch s, _ := p.get("sortOrder"); strings.TrimSpace(s) {
	case "", "-1":
		return false
	case "1":
		return true
	default:
		p.fail("sortOrder: %q is not -1 or 1", s)
		return false
	}
}

// dates reads startDate and endDate.
func (p *params) dates() (start, end float64) {
	start, end = p.float("startDate"), p.float("endDate")
	if start > 0 && end > 0 && end < start {
		p.fail("end date cannot be lower than start date")
	}
	return start, end
}

// hashList reads a list of item hashes.
func (p *params) hashList(name string) []string {
	l := p.list(name)
	for _, h := range l {
		if !message.ValidHash(h) {
			p.fail("%s: %q is not an item hash", name, h)
		}
	}
	return l
}

// pathPage reads the page of a /…/page/{page}.json route; ok is false when
// the path is not a page number.
func pathPage(r *http.Request) (page int, present, ok bool) {
	v := r.PathValue("page")
	if v == "" {
		return 0, false, true
	}
	v = strings.TrimSuffix(v, ".json")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, true, false
	}
	return n, true, true
}

// ---- messages.json --------------------------------------------------------

const (
	defaultPagination = 20
	defaultWSHistory  = 10
	maxWSHistory      = 199
	maxCursorPage     = 200
)

// contentFormat selects how much of each message's content is written.
type contentFormat int

const (
	contentFull contentFormat = iota
	contentHeaders
	contentNone
)

// messageQuery is a parsed messages.json (or WebSocket) query.
type messageQuery struct {
	filter    store.MessageFilter
	format    contentFormat
	forgotten bool // list forgotten skeletons
	none      bool // nothing can match (removed messages, endBlock)
	txTime    bool
	cursor    bool
}

var paymentTypes = map[string]bool{"hold": true, "superfluid": true, "credit": true}

var statuses = map[store.Status]bool{
	store.StatusPending: true, store.StatusProcessed: true, store.StatusRejected: true,
	store.StatusForgotten: true, store.StatusRemoving: true, store.StatusRemoved: true,
}

// badRequest is a query the reference node answers with 400 (not 422).
type badRequest struct{ error }

// parseMessageQuery reads the filters shared by messages.json and the
// WebSocket (spec §9.1). Unknown parameters are ignored.
func parseMessageQuery(p *params) *messageQuery {
	mq := &messageQuery{}
	f := &mq.filter
	f.Hashes = p.hashList("hashes")
	f.Addresses = p.list("addresses")
	f.Owners = p.list("owners")
	f.Refs = p.list("refs")
	f.ContentHashes = p.hashList("contentHashes")
	f.ContentKeys = p.list("contentKeys")
	f.ContentTypes = p.list("contentTypes")
	f.Channels = p.list("channels")
	f.Tags = p.list("tags")
	for _, c := range p.list("chains") {
		if !message.KnownChain(c) {
			p.fail("chains: unknown chain %q", c)
		}
		f.Chains = append(f.Chains, c)
	}
	addType := func(name, t string) {
		if !message.Type(t).Valid() {
			p.fail("%s: unknown message type %q", name, t)
			return
		}
		f.Types = append(f.Types, message.Type(t))
	}
	if t, ok := p.get("msgType"); ok && t != "" {
		addType("msgType", t)
	}
	if msgTypes := p.list("msgTypes"); len(msgTypes) > 0 {
		if len(f.Types) > 0 {
			// msgType and msgTypes together: both must hold.
			keep := f.Types[0]
			f.Types = nil
			for _, t := range msgTypes {
				if message.Type(t) == keep {
					f.Types = append(f.Types, keep)
				} else if !message.Type(t).Valid() {
					p.fail("msgTypes: unknown message type %q", t)
				}
			}
			if len(f.Types) == 0 {
				mq.none = true
			}
		} else {
			for _, t := range msgTypes {
				addType("msgTypes", t)
			}
		}
	}
	for _, pt := range p.list("paymentTypes") {
		if !paymentTypes[pt] {
			p.fail("paymentTypes: unknown payment type %q", pt)
		}
		f.PaymentTypes = append(f.PaymentTypes, pt)
	}
	var sts []store.Status
	for _, s := range p.list("msgStatuses") {
		if !statuses[store.Status(s)] {
			p.fail("msgStatuses: unknown status %q", s)
		}
		sts = append(sts, store.Status(s))
	}
	f.StartDate, f.EndDate = p.dates()
	startBlock, endBlock := p.int("startBlock", 0, 0, -1), p.int("endBlock", 0, 0, -1)
	if startBlock > 0 && endBlock > 0 && endBlock < startBlock {
		p.fail("end block cannot be lower than start block")
	}
	// No message of this node is confirmed on a chain, so none is below
	// an end block.
	if endBlock > 0 {
		mq.none = true
	}
	switch s, _ := p.get("sortBy"); s {
	case "", "time":
	case "tx-time":
		// Unconfirmed messages sort by time under tx-time too.
		mq.txTime = true
	default:
		p.fail("sortBy: %q is not time or tx-time", s)
	}
	f.SortAsc = p.sortAsc()
	if p.bool("excludeContent", false) {
		mq.format = contentNone
	}
	switch s, _ := p.get("contentFormat"); s {
	case "", "full":
	case "headers":
		mq.format = contentHeaders
	case "none":
		mq.format = contentNone
	default:
		p.fail("contentFormat: %q is not full, headers or none", s)
	}
	if p.err != nil {
		return mq
	}
	if len(sts) > 0 {
		set := map[store.Status]bool{}
		for _, s := range sts {
			set[s] = true
		}
		switch {
		case len(set) == 1 && set[store.StatusForgotten]:
			mq.forgotten = true
			f.Statuses = []store.Status{store.StatusForgotten}
		case len(set) == 1 && set[store.StatusRemoved]:
			// Removed messages are not kept by this node.
			mq.none = true
		default:
			for s := range set {
				if s != store.StatusProcessed && s != store.StatusRemoving {
					p.err = badRequest{fmt.Errorf("msgStatuses: %s can only be listed alone", s)}
					return mq
				}
			}
			f.Statuses = sts
		}
	}
	return mq
}

// failQuery answers a query error: 400 or 422.
func (s *Server) failQuery(w http.ResponseWriter, r *http.Request, err error) {
	var br badRequest
	if errors.As(err, &br) {
		s.fail(w, r, http.StatusBadRequest, br.error)
		return
	}
	s.fail(w, r, http.StatusUnprocessableEntity, err)
}

// failStore answers a store error of a list query: 422 for a bad cursor.
func (s *Server) failStore(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrBadCursor) {
		s.fail(w, r, http.StatusUnprocessableEntity, err)
		return
	}
	s.fail(w, r, http.StatusInternalServerError, err)
}

// listMessages is GET /api/v0/messages.json and /messages/page/{page}.json.
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	page, fromPath, ok := pathPage(r)
	if !ok {
		s.notFound(w, r)
		return
	}
	p := newParams(r)
	mq := parseMessageQuery(p)
	pagination := p.int("pagination", defaultPagination, 0, -1)
	if !fromPath {
		page = p.int("page", 1, 1, -1)
	}
	cursor, hasCursor := p.get("cursor")
	if !hasCursor && p.has("cursor") {
		hasCursor = true
	}
	if hasCursor && mq.txTime {
		p.fail("cursor pagination is not supported with tx-time sort order")
	}
	if p.err != nil {
		s.failQuery(w, r, p.err)
		return
	}
	f := mq.filter
	f.Pagination, f.Page = pagination, page
	if hasCursor {
		if f.Pagination <= 0 || f.Pagination > maxCursorPage {
			f.Pagination = maxCursorPage
		}
		f.Cursor = &cursor
	}
	res := &store.MessagePage{Records: []store.Record{}}
	if !mq.none {
		var err error
		if res, err = s.cfg.Store.ListMessages(r.Context(), f); err != nil {
			s.failStore(w, r, err)
			return
		}
	}
	var out jsonw
	out.WriteString(`{"messages":[`)
	n := 0
	for i := range res.Records {
		if i > 0 {
			out.WriteByte(',')
		}
		writeListedMessage(&out, &res.Records[i], mq.format)
		n++
	}
	if mq.forgotten {
		for i := range res.Forgotten {
			if n > 0 {
				out.WriteByte(',')
			}
			writeForgottenMessage(&out, &res.Forgotten[i])
			n++
		}
	}
	out.WriteByte(']')
	if hasCursor {
		out.key("pagination_per_page")
		out.int(int64(f.Pagination))
		out.key("has_more")
		out.bool(res.NextCursor != "")
		out.key("next_cursor")
		out.strOrNull(res.NextCursor)
	} else {
		total := res.Total
		if mq.none {
			total = 0
		}
		out.key("pagination_per_page")
		out.int(int64(pagination))
		out.key("pagination_page")
		out.int(int64(page))
		out.key("pagination_total")
		out.int(int64(total))
		out.key("pagination_item")
		out.str("messages")
	}
	out.WriteByte('}')
	out.send(w, http.StatusOK)
}

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

// ---- one message ----------------------------------------------------------

// messageStatus looks up the {hash} of the path, answering 400 for a
// malformed hash and 404 for an unknown one; nil when answered.
func (s *Server) messageStatus(w http.ResponseWriter, r *http.Request) *store.MessageStatus {
	hash := r.PathValue("hash")
	if !message.ValidHash(hash) {
		s.fail(w, r, http.StatusBadRequest, fmt.Errorf("invalid message hash %q", hash))
		return nil
	}
	st, err := s.cfg.Store.Status(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("message %s not found", hash))
		return nil
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return nil
	}
	return st
}

// statusHeader writes {"status", "item_hash", "reception_time" of a status.
func statusHeader(w *jsonw, st *store.MessageStatus) {
	w.WriteString(`{"status":`)
	w.str(string(st.Status))
	w.key("item_hash")
	w.str(st.ItemHash)
	w.key("reception_time")
	w.str(pydanticTime(st.ReceptionTime))
}

// getMessage is GET /api/v0/messages/{hash}: the message in the shape of
// its status (spec §9.1).
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	st := s.messageStatus(w, r)
	if st == nil {
		return
	}
	var out jsonw
	statusHeader(&out, st)
	switch st.Status {
	case store.StatusProcessed, store.StatusRemoving:
		out.key("message")
		writeProcessedMessage(&out, st.Record)
		if st.Status == store.StatusRemoving {
			out.key("reason")
			out.str("balance_insufficient")
		}
	case store.StatusPending:
		out.key("messages")
		out.WriteByte('[')
		for i, p := range st.Pending {
			if i > 0 {
				out.WriteByte(',')
			}
			writePendingMessage(&out, &p)
		}
		out.WriteByte(']')
	case store.StatusRejected:
		out.key("message")
		out.raw(st.Rejected.Message)
		out.key("error_code")
		out.int(int64(st.Rejected.ErrorCode))
		out.key("details")
		out.raw(st.Rejected.Details)
	case store.StatusForgotten:
		out.key("message")
		writeForgottenMessage(&out, st.Forgotten)
		out.key("forgotten_by")
		out.value(nonNil(st.Forgotten.ForgottenBy))
	default:
		// removed: this node keeps no snapshot of removed messages.
		s.fail(w, r, http.StatusGone, fmt.Errorf("message %s was removed", st.ItemHash))
		return
	}
	out.WriteByte('}')
	out.send(w, http.StatusOK)
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

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// getMessageStatus is GET /api/v0/messages/{hash}/status.
func (s *Server) getMessageStatus(w http.ResponseWriter, r *http.Request) {
	st := s.messageStatus(w, r)
	if st == nil {
		return
	}
	var out jsonw
	statusHeader(&out, st)
	out.WriteByte('}')
	out.send(w, http.StatusOK)
}

// getMessageContent is GET /api/v0/messages/{hash}/content: the user
// content of a processed POST (content.content), the whole content of
// other types.
func (s *Server) getMessageContent(w http.ResponseWriter, r *http.Request) {
	st := s.messageStatus(w, r)
	if st == nil {
		return
	}
	if st.Status != store.StatusProcessed {
		s.fail(w, r, http.StatusUnprocessableEntity, fmt.Errorf("invalid message hash status %s for hash %s", st.Status, st.ItemHash))
		return
	}
	body := []byte(st.Record.Content)
	if st.Record.Type == message.TypePost {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(body, &obj); err != nil {
			s.fail(w, r, http.StatusInternalServerError, err)
			return
		}
		body = obj["content"]
	}
	var out jsonw
	out.raw(body)
	out.send(w, http.StatusOK)
}
