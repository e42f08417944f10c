package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/goaleph/goaleph/message"
)

// Message returns the node's record of the message with item hash hash,
// whatever its status. An unknown hash gives an error matching ErrNotFound.
// A rejected message is not an error: its ErrorCode and Details are set.
func (c *Client) Message(ctx context.Context, hash string) (*MessageResult, error) {
	var raw json.RawMessage
	if err := c.getJSON(ctx, "/api/v0/messages/"+url.PathEscape(hash), nil, &raw); err != nil {
		return nil, err
	}
	var w struct {
		Status        Status          `json:"status"`
		ItemHash      string          `json:"item_hash"`
		ReceptionTime string          `json:"reception_time"`
		Message       json.RawMessage `json:"message"`
		Messages      []Message       `json:"messages"`
		ErrorCode     *message.Code   `json:"error_code"`
		Details       json.RawMessage `json:"details"`
		ForgottenBy   []string        `json:"forgotten_by"`
		Reason        string          `json:"reason"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("aleph: decode message %s: %w", hash, err)
	}
	r := &MessageResult{
		Status: w.Status, ItemHash: w.ItemHash, Pending: w.Messages, ErrorCode: w.ErrorCode,
		Details: w.Details, ForgottenBy: w.ForgottenBy, Reason: w.Reason, Raw: raw,
	}
	r.ReceptionTime, _ = time.Parse(time.RFC3339Nano, w.ReceptionTime)
	if len(w.Message) > 0 && string(w.Message) != "null" {
		var m Message
		err := json.Unmarshal(w.Message, &m)
		switch {
		case err == nil:
			r.Message = &m
		case w.Status == StatusRejected:
			// A rejected message is kept as received: it may not decode.
			r.Message = &Message{Raw: w.Message}
		default:
			return nil, fmt.Errorf("aleph: decode message %s: %w", hash, err)
		}
	}
	if r.Message == nil && len(r.Pending) > 0 {
		r.Message = &r.Pending[0]
	}
	return r, nil
}

// MessageStatus returns the status of the message with item hash hash. An
// unknown hash gives an error matching ErrNotFound.
func (c *Client) MessageStatus(ctx context.Context, hash string) (*MessageStatusResult, error) {
	var r MessageStatusResult
	if err := c.getJSON(ctx, "/api/v0/messages/"+url.PathEscape(hash)+"/status", nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Messages returns one page of the processed messages that match f,
// newest first unless f.Ascending.
func (c *Client) Messages(ctx context.Context, f MessageFilter) (*MessagePage, error) {
	q := f.query()
	pages(q, f.Page, f.Pagination)
	var p MessagePage
	if err := c.getJSON(ctx, "/api/v0/messages.json", q, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Posts returns one page of posts (v0 shape): original posts, each with the
// content of its latest amend.
func (c *Client) Posts(ctx context.Context, f PostFilter) (*PostPage, error) {
	var p PostPage
	if err := c.getJSON(ctx, "/api/v0/posts.json", f.query(), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Aggregates returns the aggregates of address, by key: all of them, or
// only keys. An address without aggregates gives an error matching
// ErrNotFound.
func (c *Client) Aggregates(ctx context.Context, address string, keys ...string) (map[string]json.RawMessage, error) {
	q := url.Values{}
	list(q, "keys", keys)
	var r struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := c.getJSON(ctx, "/api/v0/aggregates/"+url.PathEscape(address)+".json", q, &r); err != nil {
		return nil, err
	}
	if r.Data == nil {
		return nil, fmt.Errorf("aleph: aggregates of %s: %w", address, ErrNotFound)
	}
	return r.Data, nil
}

// Aggregate returns the merged value of the aggregate key of address. A
// missing key gives an error matching ErrNotFound.
func (c *Client) Aggregate(ctx context.Context, address, key string) (json.RawMessage, error) {
	data, err := c.Aggregates(ctx, address, key)
	if err != nil {
		return nil, err
	}
	v, ok := data[key]
	if !ok {
		return nil, fmt.Errorf("aleph: aggregate %q of %s: %w", key, address, ErrNotFound)
	}
	return v, nil
}

// FileMetadata returns the size and kind of a stored file, by file hash
// (sha256 hex or CID).
func (c *Client) FileMetadata(ctx context.Context, fileHash string) (*FileMetadata, error) {
	var m FileMetadata
	if err := c.getJSON(ctx, "/api/v0/storage/metadata/"+url.PathEscape(fileHash), nil, &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// File is a stored file being downloaded. Close it when done.
type File struct {
	io.ReadCloser
	// Size is the file size in bytes, or -1 when the node did not say.
	Size int64
}

// Open starts downloading the file with file hash fileHash (the STORE
// content's item_hash: sha256 hex or CID, not the STORE message hash).
func (c *Client) Open(ctx context.Context, fileHash string) (*File, error) {
	req, err := c.newRequest(ctx, http.MethodGet, "/api/v0/storage/raw/"+url.PathEscape(fileHash), nil, nil)
	if err != nil {
		return nil, err
	}
	req.URL.RawQuery = "find" // as the official SDK
	req.Header.Set("Accept", "application/octet-stream")
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, newError(resp, body)
	}
	return &File{ReadCloser: resp.Body, Size: resp.ContentLength}, nil
}

// DownloadOption configures Download.
type DownloadOption func(*downloadConfig)

type downloadConfig struct {
	progress func(done, total int64)
}

// WithDownloadProgress calls fn as bytes arrive with the bytes written so
// far and the total size (-1 when unknown). fn runs on the downloading
// goroutine and must be quick.
func WithDownloadProgress(fn func(done, total int64)) DownloadOption {
	return func(c *downloadConfig) { c.progress = fn }
}

// Download streams the file with file hash fileHash into w and returns the
// number of bytes written. The file is never held in memory; a short body
// (fewer bytes than announced) is an error.
func (c *Client) Download(ctx context.Context, fileHash string, w io.Writer, opts ...DownloadOption) (int64, error) {
	var cfg downloadConfig
	for _, o := range opts {
		o(&cfg)
	}
	f, err := c.Open(ctx, fileHash)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var src io.Reader = f
	if cfg.progress != nil {
		src = &progressReader{r: f, total: f.Size, fn: cfg.progress}
		cfg.progress(0, f.Size)
	}
	n, err := io.Copy(w, src)
	if err != nil {
		return n, fmt.Errorf("aleph: download %s: %w", fileHash, err)
	}
	if f.Size >= 0 && n != f.Size {
		return n, fmt.Errorf("aleph: download %s: got %d of %d bytes", fileHash, n, f.Size)
	}
	return n, nil
}

// progressReader reports the bytes read through it.
type progressReader struct {
	r     io.Reader
	done  int64
	total int64
	fn    func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.done += int64(n)
		p.fn(p.done, p.total)
	}
	return n, err
}

// wsURL returns the WebSocket URL of path with query q.
func (c *Client) wsURL(path string, q url.Values) string {
	u := c.wsBase + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// AddressFiles returns page (1-based; 0 means 1) of the files pinned by the
// STORE messages of address, pagination per page (0: the node's default,
// 100). An address without files gives an empty page: the node answers 404.
func (c *Client) AddressFiles(ctx context.Context, address string, page, pagination int) (*AddressFiles, error) {
	q := url.Values{}
	if page > 0 {
		q.Set("page", strconv.Itoa(page))
	}
	if pagination > 0 {
		q.Set("pagination", strconv.Itoa(pagination))
	}
	var out AddressFiles
	err := c.getJSON(ctx, "/api/v0/addresses/"+url.PathEscape(address)+"/files", q, &out)
	if errors.Is(err, ErrNotFound) {
		return &AddressFiles{Address: address, Files: []AddressFile{}, Page: max(page, 1), PerPage: pagination}, nil
	}
	if err != nil {
		return nil, err
	}
	if out.Files == nil {
		out.Files = []AddressFile{}
	}
	return &out, nil
}
