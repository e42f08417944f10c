package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/goaleph/goaleph/message"
)

// MaxInlineContent is the size from which content is uploaded with
// /api/v0/storage/add_json and referenced by hash instead of being sent
// inline, as the official SDK does.
const MaxInlineContent = 50000

// Result is the outcome of a write.
type Result struct {
	// Message is the signed message that was sent.
	Message *message.Message
	// Status is the node's status for it: processed (sync writes that
	// succeeded), pending, or rejected.
	Status Status
	// FileHash is the stored file's hash (Store only).
	FileHash string
}

// PostParams describes a POST message.
type PostParams struct {
	// Type is the post type (for example "chat"); "amend" makes an amend.
	Type string
	// Content is the user content, encoded with encoding/json (maps in
	// sorted key order, structs in field order).
	Content any
	// Ref is the amended post's hash for an amend, or any reference.
	Ref string
	// Channel of the message; empty for none.
	Channel string
	// Sync asks the node to process the message before answering.
	Sync bool
	// Time of the message; zero means now.
	Time time.Time
}

// WriteOptions are the common options of the simple writes.
type WriteOptions struct {
	// Channel of the message; empty for none.
	Channel string
	// Sync asks the node to process the message before answering.
	Sync bool
	// Time of the message; zero means now.
	Time time.Time
}

// ForgetParams describes a FORGET message.
type ForgetParams struct {
	// Hashes are the item hashes of the messages to forget.
	Hashes []string
	// Aggregates are aggregate keys to forget (the official SDK never
	// sends them).
	Aggregates []string
	// Reason is an optional explanation, omitted when empty.
	Reason string
	// Channel of the message; empty for none.
	Channel string
	// Sync asks the node to process the message before answering.
	Sync bool
	// Time of the message; zero means now.
	Time time.Time
}

// Post publishes a POST message signed by s. Content of MaxInlineContent
// bytes or more is uploaded first and the message references it.
func (c *Client) Post(ctx context.Context, s message.Signer, p PostParams) (*Result, error) {
	t := msgTime(p.Time)
	body, err := encode(p.Content)
	if err != nil {
		return nil, fmt.Errorf("aleph: encode post content: %w", err)
	}
	var o object
	o.add("type", p.Type)
	o.add("address", s.Address())
	o.raw("content", body)
	o.raw("time", timeJSON(t))
	if p.Ref != "" {
		o.add("ref", p.Ref)
	}
	return c.publish(ctx, s, message.TypePost, o.bytes(), p.Channel, p.Sync, t)
}

// Amend publishes an amend of the post ref with new content.
func (c *Client) Amend(ctx context.Context, s message.Signer, ref string, content any, o WriteOptions) (*Result, error) {
	if ref == "" {
		return nil, errors.New("aleph: amend needs the hash of the original post")
	}
	return c.Post(ctx, s, PostParams{Type: "amend", Content: content, Ref: ref, Channel: o.Channel, Sync: o.Sync, Time: o.Time})
}

// UpdateAggregate publishes an AGGREGATE message: content (a JSON object)
// is merged key by key into the aggregate key of s's address.
func (c *Client) UpdateAggregate(ctx context.Context, s message.Signer, key string, content any, o WriteOptions) (*Result, error) {
	t := msgTime(o.Time)
	body, err := encode(content)
	if err != nil {
		return nil, fmt.Errorf("aleph: encode aggregate content: %w", err)
	}
	if len(body) == 0 || body[0] != '{' {
		return nil, errors.New("aleph: aggregate content must be a JSON object")
	}
	var ob object
	ob.add("address", s.Address())
	ob.add("key", key)
	ob.raw("time", timeJSON(t))
	ob.raw("content", body)
	return c.publish(ctx, s, message.TypeAggregate, ob.bytes(), o.Channel, o.Sync, t)
}

// Forget publishes a FORGET message for the given hashes (and aggregate
// keys).
func (c *Client) Forget(ctx context.Context, s message.Signer, p ForgetParams) (*Result, error) {
	if len(p.Hashes) == 0 && len(p.Aggregates) == 0 {
		return nil, errors.New("aleph: forget needs hashes or aggregates")
	}
	t := msgTime(p.Time)
	var o object
	o.add("address", s.Address())
	o.raw("time", timeJSON(t))
	o.add("hashes", nonNil(p.Hashes))
	if len(p.Aggregates) > 0 {
		o.add("aggregates", p.Aggregates)
	}
	if p.Reason != "" {
		o.add("reason", p.Reason)
	}
	return c.publish(ctx, s, message.TypeForget, o.bytes(), p.Channel, p.Sync, t)
}

// publish signs content as a message of type typ and submits it; content
// of MaxInlineContent bytes or more goes through add_json first.
func (c *Client) publish(ctx context.Context, s message.Signer, typ message.Type, content []byte, channel string, sync bool, t time.Time) (*Result, error) {
	var m *message.Message
	if len(content) >= MaxInlineContent {
		hash, err := c.AddJSON(ctx, content)
		if err != nil {
			return nil, err
		}
		m = &message.Message{Type: typ, ItemType: message.ItemStorage, ItemHash: hash, Time: msgEpoch(t), Channel: channel}
		if err := message.Sign(s, m); err != nil {
			return nil, fmt.Errorf("aleph: sign: %w", err)
		}
	} else {
		var err error
		if m, err = message.NewInline(s, typ, channel, string(content), t); err != nil {
			return nil, fmt.Errorf("aleph: sign: %w", err)
		}
	}
	st, err := c.Submit(ctx, m, sync)
	if st == "" && err != nil {
		return nil, err
	}
	return &Result{Message: m, Status: st}, err
}

// AddJSON stores a JSON document on the node (POST
// /api/v0/storage/add_json) and returns its hash. The node hashes its own
// serialisation of the document.
func (c *Client) AddJSON(ctx context.Context, doc []byte) (string, error) {
	resp, body, err := c.postJSON(ctx, "/api/v0/storage/add_json", doc)
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		return "", newError(resp, body)
	}
	var r struct {
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Hash == "" {
		return "", fmt.Errorf("aleph: add_json: answer without hash")
	}
	return r.Hash, nil
}

// Submit sends a signed message to POST /api/v0/messages. With sync the
// node processes it before answering. It returns the node's status; a
// rejection returns StatusRejected with an *Error carrying the code.
// Invalid messages (422 without a status) return "" and an *Error.
func (c *Client) Submit(ctx context.Context, m *message.Message, sync bool) (Status, error) {
	env, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	b.WriteString(`{"sync":`)
	b.WriteString(strconv.FormatBool(sync))
	b.WriteString(`,"message":`)
	b.Write(env)
	b.WriteByte('}')
	resp, body, err := c.postJSON(ctx, "/api/v0/messages", b.Bytes())
	if err != nil {
		return "", err
	}
	var r struct {
		MessageStatus Status `json:"message_status"`
	}
	json.Unmarshal(body, &r)
	switch {
	case resp.StatusCode == http.StatusOK:
		return orStatus(r.MessageStatus, StatusProcessed), nil
	case resp.StatusCode == http.StatusAccepted:
		return orStatus(r.MessageStatus, StatusPending), nil
	case r.MessageStatus != "":
		return r.MessageStatus, newError(resp, body)
	default:
		return "", newError(resp, body)
	}
}

func orStatus(s, def Status) Status {
	if s == "" {
		return def
	}
	return s
}

// msgTime returns t, or now, at millisecond precision as the SDK.
func msgTime(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return time.UnixMilli(t.UnixMilli())
}

func msgEpoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

// timeJSON writes a time as JavaScript's JSON.stringify writes Date.now()/1000.
func timeJSON(t time.Time) []byte {
	return []byte(strconv.FormatFloat(msgEpoch(t), 'f', -1, 64))
}

// encode writes v compactly without HTML escaping, as JSON.stringify.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	var c bytes.Buffer
	if err := json.Compact(&c, out); err != nil {
		return nil, err
	}
	return c.Bytes(), nil
}

// object builds a JSON object with keys in insertion order (the SDK's
// content key order).
type object struct{ b bytes.Buffer }

func (o *object) key(k string) {
	if o.b.Len() == 0 {
		o.b.WriteByte('{')
	} else {
		o.b.WriteByte(',')
	}
	kb, _ := encode(k)
	o.b.Write(kb)
	o.b.WriteByte(':')
}

func (o *object) add(k string, v any) {
	o.key(k)
	vb, err := encode(v)
	if err != nil {
		vb = []byte("null")
	}
	o.b.Write(vb)
}

func (o *object) raw(k string, v []byte) {
	o.key(k)
	o.b.Write(v)
}

func (o *object) bytes() []byte {
	if o.b.Len() == 0 {
		return []byte("{}")
	}
	return append(o.b.Bytes(), '}')
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
