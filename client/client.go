package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DefaultUserAgent is sent when no WithUserAgent option is given.
const DefaultUserAgent = "goaleph-client/0.1"

// Client talks to one Aleph core node over its HTTP API. It is safe for
// concurrent use by multiple goroutines.
type Client struct {
	base      string // base URL without trailing slash
	wsBase    string // WebSocket base URL without trailing slash
	http      *http.Client
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client used for every request (default
// http.DefaultClient). Its timeout, if any, applies to downloads too.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithWebSocketURL sets the base URL of the WebSocket API, for example
// "wss://ws.example.org". By default it is derived from the HTTP base URL
// (http → ws, https → wss).
func WithWebSocketURL(u string) Option {
	return func(c *Client) { c.wsBase = strings.TrimRight(u, "/") }
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the node at baseURL (for example
// "http://127.0.0.1:4024"). Trailing slashes are ignored.
func New(baseURL string, opts ...Option) *Client {
	c := &Client{
		base:      strings.TrimRight(baseURL, "/"),
		http:      http.DefaultClient,
		userAgent: DefaultUserAgent,
	}
	switch {
	case strings.HasPrefix(c.base, "https://"):
		c.wsBase = "wss://" + strings.TrimPrefix(c.base, "https://")
	case strings.HasPrefix(c.base, "http://"):
		c.wsBase = "ws://" + strings.TrimPrefix(c.base, "http://")
	default:
		c.wsBase = c.base
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BaseURL returns the node's base URL as given to New, without trailing slash.
func (c *Client) BaseURL() string { return c.base }

// newRequest builds a request to path (which starts with "/") with query q.
func (c *Client) newRequest(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Request, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("aleph: build request: %w", err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// send performs req. Transport failures are wrapped with the method and
// URL (the *url.Error stays reachable with errors.As).
func (c *Client) send(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("aleph: request to node failed: %w", err)
	}
	return resp, nil
}

// maxJSONBody bounds the JSON answers read into memory.
const maxJSONBody = 64 << 20

// readBody reads a JSON answer, at most maxJSONBody bytes.
func readBody(resp *http.Response) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBody+1))
	if err != nil {
		return nil, fmt.Errorf("aleph: read answer of %s: %w", resp.Request.URL, err)
	}
	if len(b) > maxJSONBody {
		return nil, fmt.Errorf("aleph: answer of %s is larger than %d bytes", resp.Request.URL, maxJSONBody)
	}
	return b, nil
}

// getJSON performs GET path?q and decodes a 2xx JSON answer into out.
// Other statuses become *Error.
func (c *Client) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	req, err := c.newRequest(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return err
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return newError(resp, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("aleph: decode answer of %s: %w", resp.Request.URL, err)
	}
	return nil
}

// postJSON performs POST path with a JSON body and returns the answer's
// status and body, whatever the status.
func (c *Client) postJSON(ctx context.Context, path string, body []byte) (*http.Response, []byte, error) {
	req, err := c.newRequest(ctx, http.MethodPost, path, nil, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.send(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := readBody(resp)
	if err != nil {
		return nil, nil, err
	}
	return resp, b, nil
}
