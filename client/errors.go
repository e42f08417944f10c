package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/goaleph/goaleph/message"
)

// ErrNotFound is matched (with errors.Is) by errors of requests the node
// answered with 404, and by reads of an aggregate key that does not exist.
var ErrNotFound = errors.New("not found")

// Error is an error answer of the node: a non-2xx HTTP status with the
// node's JSON error body ({"error": "...", "error_code": n}).
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the Aleph processing error code, when the node gave one.
	Code *message.Code
	// Message is the node's error text (or the HTTP status text).
	Message string
	// URL is the requested URL.
	URL string
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "aleph: node answered %d", e.Status)
	if e.Code != nil {
		fmt.Fprintf(&b, " (%s %d)", e.Code.String(), int(*e.Code))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is reports whether e is a 404 when target is ErrNotFound.
func (e *Error) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// newError builds an *Error from an answer and its body.
func newError(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode, URL: resp.Request.URL.String()}
	var eb struct {
		Error     json.RawMessage `json:"error"`
		ErrorCode *message.Code   `json:"error_code"`
	}
	if json.Unmarshal(body, &eb) == nil {
		e.Code = eb.ErrorCode
		var s string
		if json.Unmarshal(eb.Error, &s) == nil {
			e.Message = s
		} else if len(eb.Error) > 0 {
			e.Message = string(eb.Error)
		}
	}
	if e.Message == "" {
		if t := strings.TrimSpace(string(body)); t != "" && len(t) < 512 && !strings.HasPrefix(t, "{") {
			e.Message = t
		} else {
			e.Message = http.StatusText(resp.StatusCode)
		}
	}
	return e
}
