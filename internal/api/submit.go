package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// publicationStatus is the reference node's answer to a submission.
type publicationStatus struct {
	PublicationStatus struct {
		Status string   `json:"status"`
		Failed []string `json:"failed"`
	} `json:"publication_status"`
	MessageStatus store.Status `json:"message_status"`
}

// ErrUnavailable is wrapped by Node.Submit errors meaning the node cannot
// store the message now (it is stopping, or its database is unreachable);
// the API answers 503 so that clients retry later.
var ErrUnavailable = errors.New("node unavailable")

// notStoredCode is the HTTP status of a submission that was not stored.
func notStoredCode(err error) int {
	if errors.Is(err, ErrUnavailable) {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// statusCode maps a processing status to the HTTP status of a submission.
func statusCode(s store.Status) int {
	switch s {
	case store.StatusProcessed, store.StatusRemoving:
		return http.StatusOK
	case store.StatusRejected:
		return http.StatusUnprocessableEntity
	case store.StatusForgotten, store.StatusRemoved:
		return http.StatusGone
	default:
		return http.StatusAccepted
	}
}

// readBody reads a request body up to limit bytes; over the limit it
// answers 413 and returns nil.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) []byte {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", limit))
		} else {
			s.fail(w, r, http.StatusBadRequest, fmt.Errorf("read body: %w", err))
		}
		return nil
	}
	return body
}

// postMessage is POST /api/v0/messages: {"message": {…}, "sync": bool}.
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	body := s.readBody(w, r, s.cfg.Limits.MaxBodySize)
	if body == nil {
		return
	}
	var req struct {
		Message json.RawMessage `json:"message"`
		Sync    bool            `json:"sync"`
	}
	if err := json.Unmarshal(body, &req); err != nil || len(req.Message) == 0 || req.Message[0] != '{' {
		s.fail(w, r, http.StatusUnprocessableEntity, message.Errorf(message.CodeInvalidFormat, "body must be {\"message\": {…}, \"sync\": bool}"))
		return
	}
	s.submit(w, r, req.Message, req.Sync)
}

// submit parses and ingests one envelope and answers with the reference
// node's publication body.
func (s *Server) submit(w http.ResponseWriter, r *http.Request, raw []byte, sync bool) {
	m, err := message.Parse(raw)
	if err != nil {
		s.fail(w, r, http.StatusUnprocessableEntity, err)
		return
	}
	status, err := s.cfg.Node.Submit(r.Context(), m, "http", sync)
	if err != nil && status == "" {
		if errors.Is(err, context.Canceled) {
			return
		}
		s.fail(w, r, notStoredCode(err), err)
		return
	}
	if err != nil && status == store.StatusRejected && !sync {
		// Rejected before becoming pending (bad inline content).
		s.fail(w, r, http.StatusUnprocessableEntity, err)
		return
	}
	var out publicationStatus
	out.PublicationStatus.Status = "success"
	out.PublicationStatus.Failed = []string{}
	out.MessageStatus = status
	if err != nil {
		writeJSON(w, statusCode(status), struct {
			publicationStatus
			Error     string       `json:"error"`
			ErrorCode message.Code `json:"error_code"`
		}{out, err.Error(), message.CodeOf(err)})
		return
	}
	writeJSON(w, statusCode(status), out)
}

// pubsubPub is the legacy POST /api/v0/ipfs/pubsub/pub route:
// {"topic": "ALEPH-TEST", "data": "<JSON envelope>"} (the official TS SDK
// sends data as an object; both forms are accepted).
func (s *Server) pubsubPub(w http.ResponseWriter, r *http.Request) {
	body := s.readBody(w, r, s.cfg.Limits.MaxBodySize)
	if body == nil {
		return
	}
	var req struct {
		Topic string          `json:"topic"`
		Data  json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.fail(w, r, http.StatusUnprocessableEntity, message.Errorf(message.CodeInvalidFormat, "body must be {\"topic\", \"data\"}"))
		return
	}
	if req.Topic != "ALEPH-TEST" {
		s.fail(w, r, http.StatusForbidden, fmt.Errorf("unauthorized topic %q", req.Topic))
		return
	}
	data := bytes.TrimSpace(req.Data)
	var str string
	if json.Unmarshal(data, &str) == nil {
		// Legacy receivers percent-decode the payload before parsing it,
		// with path rules: "+" stays "+" (query rules would turn it into a
		// space and break the item hash of any content with a "+").
		if u := percentDecode(str); json.Valid([]byte(u)) {
			str = u
		}
		data = []byte(str)
	}
	m, err := message.Parse(data)
	if err != nil {
		s.fail(w, r, http.StatusUnprocessableEntity, err)
		return
	}
	if status, err := s.cfg.Node.Submit(r.Context(), m, "http", false); err != nil {
		code := http.StatusUnprocessableEntity
		if status == "" {
			code = notStoredCode(err)
		}
		s.fail(w, r, code, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "failed": []string{}})
}

// percentDecode decodes the %XX escapes of s and leaves everything else,
// "+" and malformed escapes included, as it is; decoded bytes that are not
// UTF-8 become U+FFFD. This is the reference receiver's unquote.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") && utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHexDigit(s[i+1]) && isHexDigit(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
