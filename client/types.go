package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/goaleph/goaleph/message"
)

// Status is the processing status of a message on the node.
type Status string

// The statuses a node reports.
const (
	StatusPending   Status = "pending"
	StatusProcessed Status = "processed"
	StatusRejected  Status = "rejected"
	StatusForgotten Status = "forgotten"
	StatusRemoving  Status = "removing"
	StatusRemoved   Status = "removed"
)

// Message is a message as the node lists it: the signed envelope plus
// what the node derived from it. Its MarshalJSON (promoted from
// message.Message) writes the signed envelope only; Raw holds the node's
// JSON of the item.
type Message struct {
	message.Message
	// Content is the parsed content (null for a forgotten message).
	Content json.RawMessage
	// Size is the content size in bytes, when the node reports it.
	Size int64
	// Confirmed tells whether the message is confirmed on a chain.
	Confirmed bool
	// ReceptionTime is set for pending copies.
	ReceptionTime time.Time
	// Raw is the item exactly as the node sent it.
	Raw json.RawMessage
}

// UnmarshalJSON decodes a message in any of the node's shapes
// (messages.json items, processed, pending and forgotten messages, WebSocket
// frames). "time" may be a number or an ISO 8601 string (pending copies).
func (m *Message) UnmarshalJSON(b []byte) error {
	var w struct {
		Sender        string           `json:"sender"`
		Chain         string           `json:"chain"`
		Signature     *string          `json:"signature"`
		Type          message.Type     `json:"type"`
		ItemType      message.ItemType `json:"item_type"`
		ItemContent   *string          `json:"item_content"`
		ItemHash      string           `json:"item_hash"`
		Time          json.RawMessage  `json:"time"`
		Channel       *string          `json:"channel"`
		Content       json.RawMessage  `json:"content"`
		Size          int64            `json:"size"`
		Confirmed     bool             `json:"confirmed"`
		ReceptionTime string           `json:"reception_time"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*m = Message{
		Message: message.Message{
			Sender: w.Sender, Chain: w.Chain, Type: w.Type, ItemType: w.ItemType, ItemHash: w.ItemHash,
		},
		Content:   w.Content,
		Size:      w.Size,
		Confirmed: w.Confirmed,
		Raw:       append(json.RawMessage(nil), b...),
	}
	if w.Signature != nil {
		m.Signature = *w.Signature
	}
	if w.ItemContent != nil {
		m.ItemContent = *w.ItemContent
	}
	if w.Channel != nil {
		m.Channel = *w.Channel
	}
	t, err := parseTime(w.Time)
	if err != nil {
		return fmt.Errorf("message %s: %w", w.ItemHash, err)
	}
	m.Time = t
	if w.ReceptionTime != "" {
		m.ReceptionTime, _ = time.Parse(time.RFC3339Nano, w.ReceptionTime)
	}
	return nil
}

// parseTime reads an epoch time given as a JSON number or ISO string.
func parseTime(raw json.RawMessage) (float64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return 0, fmt.Errorf("time %q: %w", s, err)
		}
		return float64(t.UnixMicro()) / 1e6, nil
	}
	return strconv.ParseFloat(string(raw), 64)
}

// TimeOf converts an Aleph epoch time (float seconds) to a time.Time.
func TimeOf(t float64) time.Time { return time.UnixMicro(int64(t * 1e6)) }

// MessageResult is the node's answer for one message hash. Which fields
// are set depends on Status.
type MessageResult struct {
	Status        Status
	ItemHash      string
	ReceptionTime time.Time
	// Message is the message: processed or removing; rejected (as the node
	// received it, decoded on a best-effort basis); forgotten (a skeleton
	// without content); pending (the first pending copy).
	Message *Message
	// Pending lists every pending copy (status pending).
	Pending []Message
	// ErrorCode and Details explain a rejection.
	ErrorCode *message.Code
	Details   json.RawMessage
	// ForgottenBy lists the FORGET messages of a forgotten message.
	ForgottenBy []string
	// Reason is set for a message being removed.
	Reason string
	// Raw is the node's answer as sent.
	Raw json.RawMessage
}

// MessageStatusResult is the answer of /messages/{hash}/status.
type MessageStatusResult struct {
	Status        Status    `json:"status"`
	ItemHash      string    `json:"item_hash"`
	ReceptionTime time.Time `json:"reception_time"`
}

// MessageFilter selects messages, for Messages and Watch. Empty fields do
// not filter. Lists match any of their values.
type MessageFilter struct {
	Addresses     []string
	Owners        []string
	Channels      []string
	Chains        []string
	Refs          []string
	Tags          []string
	ContentTypes  []string
	ContentKeys   []string
	ContentHashes []string
	Hashes        []string
	Types         []message.Type
	PaymentTypes  []string
	// StartDate and EndDate bound the message time; zero means unbounded.
	StartDate, EndDate time.Time
	// Ascending lists oldest first (the default is newest first).
	Ascending bool
	// Page is 1-based (default 1); Pagination is the page size (default 20
	// on the node; 0 sends nothing). Both are ignored by Watch.
	Page, Pagination int
}

// query encodes f the way the official SDK does: comma-joined lists,
// empty values omitted.
func (f *MessageFilter) query() url.Values {
	q := url.Values{}
	list(q, "addresses", f.Addresses)
	list(q, "owners", f.Owners)
	list(q, "channels", f.Channels)
	list(q, "chains", f.Chains)
	list(q, "refs", f.Refs)
	list(q, "tags", f.Tags)
	list(q, "contentTypes", f.ContentTypes)
	list(q, "contentKeys", f.ContentKeys)
	list(q, "contentHashes", f.ContentHashes)
	list(q, "hashes", f.Hashes)
	var types []string
	for _, t := range f.Types {
		types = append(types, string(t))
	}
	list(q, "msgTypes", types)
	list(q, "paymentTypes", f.PaymentTypes)
	dates(q, f.StartDate, f.EndDate)
	if f.Ascending {
		q.Set("sortOrder", "1")
	}
	return q
}

func list(q url.Values, name string, v []string) {
	if len(v) > 0 {
		q.Set(name, strings.Join(v, ","))
	}
}

func dates(q url.Values, start, end time.Time) {
	if !start.IsZero() {
		q.Set("startDate", epoch(start))
	}
	if !end.IsZero() {
		q.Set("endDate", epoch(end))
	}
}

func pages(q url.Values, page, pagination int) {
	if page > 0 {
		q.Set("page", strconv.Itoa(page))
	}
	if pagination > 0 {
		q.Set("pagination", strconv.Itoa(pagination))
	}
}

// epoch formats t as float seconds with millisecond precision.
func epoch(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
}

// MessagePage is one page of Messages.
type MessagePage struct {
	Messages []Message `json:"messages"`
	Page     int       `json:"pagination_page"`
	PerPage  int       `json:"pagination_per_page"`
	// Total counts every message that matches the filter.
	Total int `json:"pagination_total"`
}

// PostFilter selects posts for Posts. Empty fields do not filter.
type PostFilter struct {
	Types     []string
	Refs      []string
	Addresses []string
	Tags      []string
	// Hashes match the original posts' hashes.
	Hashes   []string
	Channels []string
	// StartDate and EndDate bound the post time; zero means unbounded.
	StartDate, EndDate time.Time
	// Page is 1-based; Pagination is the page size (0 sends nothing: the
	// node's default is 20, the official SDK sends 50).
	Page, Pagination int
}

func (f *PostFilter) query() url.Values {
	q := url.Values{}
	list(q, "types", f.Types)
	list(q, "refs", f.Refs)
	list(q, "addresses", f.Addresses)
	list(q, "tags", f.Tags)
	list(q, "hashes", f.Hashes)
	list(q, "channels", f.Channels)
	dates(q, f.StartDate, f.EndDate)
	pages(q, f.Page, f.Pagination)
	return q
}

// Post is a post as posts.json (v0) lists it: the identity of the original
// post with the content and message fields of its latest amend.
type Post struct {
	// ItemHash is the hash of the latest version (the latest amend, or the
	// original).
	ItemHash string `json:"item_hash"`
	// OriginalItemHash (and Hash) are the original post's hash.
	OriginalItemHash string `json:"original_item_hash"`
	Hash             string `json:"hash"`
	// Type is the post type of the served version ("amend" for an amended
	// post, as the reference node); OriginalType is the original's.
	Type         string `json:"type"`
	OriginalType string `json:"original_type"`
	Address      string `json:"address"`
	Sender       string `json:"sender"`
	Chain        string `json:"chain"`
	Channel      string `json:"channel"`
	Ref          string `json:"ref"`
	// Content is the user content of the latest version.
	Content     json.RawMessage  `json:"content"`
	ItemContent string           `json:"item_content"`
	ItemType    message.ItemType `json:"item_type"`
	Signature   string           `json:"signature"`
	Size        int64            `json:"size"`
	Time        float64          `json:"time"`
}

// PostPage is one page of Posts.
type PostPage struct {
	Posts   []Post `json:"posts"`
	Page    int    `json:"pagination_page"`
	PerPage int    `json:"pagination_per_page"`
	Total   int    `json:"pagination_total"`
}

// FileMetadata describes a stored file.
type FileMetadata struct {
	FileHash    string `json:"file_hash"`
	Type        string `json:"type"`
	Size        int64  `json:"size"`
	DownloadURL string `json:"download_url"`
}

// AddressFiles is a page of the files pinned by an address's STORE
// messages (GET /api/v0/addresses/{address}/files), newest first.
type AddressFiles struct {
	Address string `json:"address"`
	// TotalSize is the sum of the sizes of all the address's pinned files,
	// not only of this page's.
	TotalSize int64         `json:"total_size"`
	Files     []AddressFile `json:"files"`
	Page      int           `json:"pagination_page"`
	Total     int           `json:"pagination_total"`
	PerPage   int           `json:"pagination_per_page"`
}

// AddressFile is a file pinned by a STORE message.
type AddressFile struct {
	FileHash string    `json:"file_hash"`
	Size     int64     `json:"size"`
	Type     string    `json:"type"`
	Created  time.Time `json:"created"`
	ItemHash string    `json:"item_hash"` // the STORE message
}
