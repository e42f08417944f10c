package scoring

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ChecksKey is the key of a PROGRAM content's "metadata" object that
// holds the program's app-defined checks. The official SDKs and the
// reference node accept any metadata object and ignore its content, so a
// program declaring checks still validates everywhere:
//
//	"metadata": {"aleph_checks": [
//	    {"path": "/health", "status": 200, "body_contains": ["ok"]},
//	    {"method": "POST", "path": "/echo", "body": "ping", "headers": {"Content-Type": "text/plain"},
//	     "status": 200, "body_contains": ["ping"]}]}
const ChecksKey = "aleph_checks"

// Limits of what a program may ask scorers to send.
const (
	maxChecks       = 8
	maxCheckBody    = 4096
	maxCheckMatches = 8
)

// AppCheck is one request a program asks scorers to send to every compute
// node serving it, through the node's program route (/vm/<hash><path>)
// as user traffic goes, and what the answer must be.
type AppCheck struct {
	// Method is the HTTP method (default GET).
	Method string `json:"method,omitempty"`
	// Path is the request's path and query inside the program; it starts
	// with "/".
	Path string `json:"path"`
	// Headers are sent with the request.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the request body.
	Body string `json:"body,omitempty"`
	// Status is the expected status code (default 200).
	Status int `json:"status,omitempty"`
	// BodyContains are substrings the answer's body must all contain.
	BodyContains []string `json:"body_contains,omitempty"`
	// BodyExcludes are substrings the answer's body must not contain.
	BodyExcludes []string `json:"body_excludes,omitempty"`
}

// ErrBadChecks is the error of malformed app-defined checks.
var ErrBadChecks = errors.New("scoring: malformed app checks")

// ParseChecks returns the app-defined checks of a PROGRAM's content: none
// when its metadata declares none, an error wrapping ErrBadChecks when
// they are malformed (the scorers then run none of them).
func ParseChecks(content json.RawMessage) ([]AppCheck, error) {
	var c struct {
		Metadata map[string]json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadChecks, err)
	}
	raw, ok := c.Metadata[ChecksKey]
	if !ok || string(raw) == "null" {
		return nil, nil
	}
	var checks []AppCheck
	if err := json.Unmarshal(raw, &checks); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadChecks, err)
	}
	if len(checks) > maxChecks {
		return nil, fmt.Errorf("%w: %d checks, at most %d", ErrBadChecks, len(checks), maxChecks)
	}
	for i := range checks {
		if err := checks[i].normalize(); err != nil {
			return nil, fmt.Errorf("%w: check %d: %v", ErrBadChecks, i, err)
		}
	}
	return checks, nil
}

// normalize fills the defaults of c and validates it.
func (c *AppCheck) normalize() error {
	if c.Method == "" {
		c.Method = http.MethodGet
	}
	c.Method = strings.ToUpper(c.Method)
	switch c.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		return fmt.Errorf("method %q", c.Method)
	}
	if !strings.HasPrefix(c.Path, "/") || strings.ContainsAny(c.Path, " \r\n#") {
		return fmt.Errorf("path %q must start with / and hold no spaces or fragment", c.Path)
	}
	if c.Status == 0 {
		c.Status = http.StatusOK
	}
	if c.Status < 100 || c.Status > 599 {
		return fmt.Errorf("status %d", c.Status)
	}
	if len(c.Body) > maxCheckBody {
		return fmt.Errorf("body of %d bytes, at most %d", len(c.Body), maxCheckBody)
	}
	if len(c.BodyContains)+len(c.BodyExcludes) > maxCheckMatches {
		return fmt.Errorf("more than %d body matchers", maxCheckMatches)
	}
	for k, v := range c.Headers {
		if k == "" || strings.ContainsAny(k+v, "\r\n") {
			return fmt.Errorf("header %q", k)
		}
	}
	return nil
}

// verify reports why an answer (status and body) fails c, nil if it
// passes.
func (c *AppCheck) verify(status int, body string) error {
	if status != c.Status {
		return fmt.Errorf("status %d, want %d", status, c.Status)
	}
	for _, s := range c.BodyContains {
		if !strings.Contains(body, s) {
			return fmt.Errorf("body lacks %q", s)
		}
	}
	for _, s := range c.BodyExcludes {
		if strings.Contains(body, s) {
			return fmt.Errorf("body holds %q", s)
		}
	}
	return nil
}
