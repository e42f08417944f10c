package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

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
	pagination := p.pageSize(defaultPagination)
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
	recs := make([]*store.Record, len(res.Records))
	for i := range res.Records {
		recs[i] = &res.Records[i]
	}
	if err := s.fillConfirmations(r.Context(), recs...); err != nil {
		s.failStore(w, r, err)
		return
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
		out.cursorPagination(f.Pagination, res.NextCursor)
	} else {
		total := res.Total
		if mq.none {
			total = 0
		}
		out.pagination(messagesPageOrder, page, pagination, total, "messages")
	}
	out.WriteByte('}')
	out.send(w, http.StatusOK)
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

// statusHeader looks up the message (see messageStatus) and writes
// {"status", "item_hash", "reception_time" of its status to out; nil when
// answered.
func (s *Server) statusHeader(w http.ResponseWriter, r *http.Request, out *jsonw) *store.MessageStatus {
	st := s.messageStatus(w, r)
	if st == nil {
		return nil
	}
	out.WriteString(`{"status":`)
	out.str(string(st.Status))
	out.strField("item_hash", st.ItemHash)
	out.strField("reception_time", pydanticTime(st.ReceptionTime))
	return st
}

// getMessage is GET /api/v0/messages/{hash}: the message in the shape of
// its status (spec §9.1).
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) {
	var out jsonw
	st := s.statusHeader(w, r, &out)
	if st == nil {
		return
	}
	switch st.Status {
	case store.StatusProcessed, store.StatusRemoving:
		if err := s.fillConfirmations(r.Context(), st.Record); err != nil {
			s.failStore(w, r, err)
			return
		}
		out.key("message")
		writeProcessedMessage(&out, st.Record)
		if st.Status == store.StatusRemoving {
			c, err := s.collection(r, st.ItemHash)
			if err != nil {
				s.failStore(w, r, err)
				return
			}
			out.key("reason")
			out.str(c.Reason)
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
	case store.StatusRemoved:
		if st.Record == nil {
			s.fail(w, r, http.StatusGone, fmt.Errorf("message %s was removed", st.ItemHash))
			return
		}
		c, err := s.collection(r, st.ItemHash)
		if err != nil {
			s.failStore(w, r, err)
			return
		}
		out.key("message")
		writeRemovedMessage(&out, st.Record)
		out.key("reason")
		out.str(c.Reason)
		out.key("removed_at")
		if c.RemovedAt > 0 {
			out.time(c.RemovedAt)
		} else {
			out.WriteString("null")
		}
		out.key("size")
		out.int(st.Record.Size)
	default:
		s.fail(w, r, http.StatusGone, fmt.Errorf("message %s was removed", st.ItemHash))
		return
	}
	out.WriteByte('}')
	out.send(w, http.StatusOK)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// getMessageStatus is GET /api/v0/messages/{hash}/status.
func (s *Server) getMessageStatus(w http.ResponseWriter, r *http.Request) {
	var out jsonw
	if s.statusHeader(w, r, &out) != nil {
		out.WriteByte('}')
		out.send(w, http.StatusOK)
	}
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

// fillConfirmations sets the confirmations of records, in one query.
func (s *Server) fillConfirmations(ctx context.Context, recs ...*store.Record) error {
	if len(recs) == 0 {
		return nil
	}
	hashes := make([]string, len(recs))
	for i, rec := range recs {
		hashes[i] = rec.ItemHash
	}
	confs, err := s.cfg.Store.Confirmations(ctx, hashes)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		rec.Confirmations = confs[rec.ItemHash]
	}
	return nil
}

// collection returns the collection row of a removing or removed message;
// one this node has no row for (none is expected) reads as a balance
// shortfall.
func (s *Server) collection(r *http.Request, hash string) (store.Collection, error) {
	c, err := s.cfg.Store.Collection(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) {
		return store.Collection{ItemHash: hash, Reason: "balance_insufficient"}, nil
	}
	return c, err
}
