package message

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Content is the parsed content of a message of any type. Raw holds the
// content object as it is stored and served (the received JSON, plus
// address/time when they were coerced for a non-inline item).
type Content struct {
	Address string
	Time    float64
	Raw     json.RawMessage

	Post      *PostContent
	Aggregate *AggregateContent
	Store     *StoreContent
	Program   *ProgramContent
	Instance  *InstanceContent
	Forget    *ForgetContent
}

// Type-specific fields (the common address and time live in Content).

// PostContent is the content of a POST message.
type PostContent struct {
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content,omitempty"`
	// Ref is the referenced item: a string, or the item_hash of a legacy
	// ChainRef object.
	Ref string `json:"-"`
}

// IsAmend reports whether the post amends another one.
func (p *PostContent) IsAmend() bool { return p.Type == "amend" }

// AggregateContent is the content of an AGGREGATE message.
type AggregateContent struct {
	Key     string          `json:"-"`
	Content json.RawMessage `json:"content"`
}

// StoreContent is the content of a STORE message.
type StoreContent struct {
	ItemType    ItemType `json:"item_type"`
	ItemHash    string   `json:"item_hash"`
	Ref         string   `json:"ref,omitempty"`
	PaymentType string   `json:"-"`
}

// ForgetContent is the content of a FORGET message.
type ForgetContent struct {
	Hashes     []string `json:"hashes"`
	Aggregates []string `json:"aggregates"`
	Reason     string   `json:"reason,omitempty"`
}

// Limits of FORGET content.
const (
	MaxForgetTargets = 1000
	MaxForgetReason  = 1000
)

// ParseContent parses and validates the content of m from raw, the inline
// item_content or the fetched content file. For non-inline items a missing
// address is set to the sender and a missing time to the envelope time, as
// the reference node does. Errors carry CodeInvalidFormat.
func ParseContent(m *Message, raw []byte) (*Content, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return nil, Errorf(CodeInvalidFormat, "content is not a JSON object")
	}
	if bytes.Contains(raw, []byte(`\u0000`)) {
		return nil, Errorf(CodeInvalidFormat, "content contains a NUL escape")
	}
	if m.ItemType != ItemInline {
		changed := false
		if _, ok := obj["address"]; !ok {
			obj["address"], _ = json.Marshal(m.Sender)
			changed = true
		}
		if _, ok := obj["time"]; !ok {
			obj["time"] = json.RawMessage(FormatTime(m.Time))
			changed = true
		}
		if changed {
			raw, _ = json.Marshal(obj)
		}
	}
	c := &Content{Raw: json.RawMessage(raw)}
	if err := str(obj, "address", &c.Address, true); err != nil {
		return nil, err
	}
	if c.Address == "" {
		return nil, Errorf(CodeInvalidFormat, "content.address is empty")
	}
	if err := num(obj, "time", &c.Time, true); err != nil {
		return nil, err
	}
	if c.Time < 0 || c.Time > MaxContentTime {
		return nil, Errorf(CodeInvalidFormat, "content.time %v out of range", c.Time)
	}
	var err error
	switch m.Type {
	case TypePost:
		c.Post, err = parsePost(obj)
	case TypeAggregate:
		c.Aggregate, err = parseAggregate(obj)
	case TypeStore:
		c.Store, err = parseStore(obj)
	case TypeForget:
		c.Forget, err = parseForget(obj)
	case TypeProgram:
		c.Program, err = parseProgram(obj)
	case TypeInstance:
		c.Instance, err = parseInstance(obj)
	default:
		err = Errorf(CodeInvalidFormat, "unknown message type %q", m.Type)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func allowOnly(obj map[string]json.RawMessage, what string, keys ...string) error {
	for k := range obj {
		ok := k == "address" || k == "time"
		for _, a := range keys {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			return Errorf(CodeInvalidFormat, "%s content: extra field %q not permitted", what, k)
		}
	}
	return nil
}

func isNull(r json.RawMessage) bool { return len(r) == 0 || string(r) == "null" }

// field decodes obj[key] into dst. An absent or null key is an error
// only when required; a value that does not decode, or that valid (when
// not nil) refuses, is an error saying it must be kind.
func field[T any](obj map[string]json.RawMessage, key string, dst *T, required bool, kind string, valid func(T) bool) error {
	r, ok := obj[key]
	if !ok || isNull(r) {
		if required {
			return Errorf(CodeInvalidFormat, "content.%s is required", key)
		}
		return nil
	}
	if err := json.Unmarshal(r, dst); err != nil || (valid != nil && !valid(*dst)) {
		return Errorf(CodeInvalidFormat, "content.%s must be %s", key, kind)
	}
	return nil
}

func str(obj map[string]json.RawMessage, key string, dst *string, required bool) error {
	return field(obj, key, dst, required, "a string", nil)
}

func num(obj map[string]json.RawMessage, key string, dst *float64, required bool) error {
	return field(obj, key, dst, required, "a number", func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) })
}

func parsePost(obj map[string]json.RawMessage) (*PostContent, error) {
	if err := allowOnly(obj, "POST", "type", "content", "ref"); err != nil {
		return nil, err
	}
	p := &PostContent{}
	if err := str(obj, "type", &p.Type, true); err != nil {
		return nil, err
	}
	if r, ok := obj["content"]; ok && !isNull(r) {
		p.Content = r
	}
	if r, ok := obj["ref"]; ok && !isNull(r) {
		var s string
		if json.Unmarshal(r, &s) == nil {
			p.Ref = s
		} else {
			var cr struct {
				ItemHash string `json:"item_hash"`
			}
			if err := json.Unmarshal(r, &cr); err != nil || cr.ItemHash == "" {
				return nil, Errorf(CodeInvalidFormat, "content.ref must be a string or a chain reference")
			}
			p.Ref = cr.ItemHash
		}
	}
	return p, nil
}

func parseAggregate(obj map[string]json.RawMessage) (*AggregateContent, error) {
	if err := allowOnly(obj, "AGGREGATE", "key", "content"); err != nil {
		return nil, err
	}
	a := &AggregateContent{}
	r, ok := obj["key"]
	if !ok || isNull(r) {
		return nil, Errorf(CodeInvalidFormat, "content.key is required")
	}
	if json.Unmarshal(r, &a.Key) != nil {
		// aleph-message also accepts {"name": k}; pyaleph then keys it by
		// the model's repr. Mirror that quirk.
		var kn struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(r, &kn); err != nil {
			return nil, Errorf(CodeInvalidFormat, "content.key must be a string")
		}
		a.Key = fmt.Sprintf("name='%s'", kn.Name)
	}
	c, ok := obj["content"]
	if !ok || len(bytes.TrimSpace(c)) == 0 || bytes.TrimSpace(c)[0] != '{' {
		return nil, Errorf(CodeInvalidFormat, "content.content must be an object")
	}
	a.Content = c
	return a, nil
}

func parseStore(obj map[string]json.RawMessage) (*StoreContent, error) {
	// STORE ignores unknown keys (extra="ignore"); they are kept in Raw.
	s := &StoreContent{}
	var it string
	if err := str(obj, "item_type", &it, true); err != nil {
		return nil, err
	}
	if err := str(obj, "item_hash", &s.ItemHash, true); err != nil {
		return nil, err
	}
	shape, err := ItemTypeOf(s.ItemHash)
	if err != nil {
		return nil, err
	}
	s.ItemType = ItemType(it)
	if s.ItemType != ItemStorage && s.ItemType != ItemIPFS {
		return nil, Errorf(CodeInvalidFormat, "content.item_type %q must be storage or ipfs", it)
	}
	if s.ItemType != shape {
		return nil, Errorf(CodeInvalidFormat, "content.item_type %q does not match the shape of %s", it, s.ItemHash)
	}
	if err := str(obj, "ref", &s.Ref, false); err != nil {
		return nil, err
	}
	pt, err := parsePayment(obj, "hold", "credit")
	if err != nil {
		return nil, err
	}
	s.PaymentType = pt
	return s, nil
}

// parsePayment returns the payment type (default hold) and checks it is allowed.
func parsePayment(obj map[string]json.RawMessage, allowed ...string) (string, error) {
	r, ok := obj["payment"]
	if !ok || isNull(r) {
		return "hold", nil
	}
	var p struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(r, &p); err != nil {
		return "", Errorf(CodeInvalidFormat, "content.payment must be an object")
	}
	if p.Type == "" {
		p.Type = "hold"
	}
	for _, a := range allowed {
		if p.Type == a {
			return p.Type, nil
		}
	}
	return "", Errorf(CodeInvalidFormat, "payment type %q not allowed (%s)", p.Type, strings.Join(allowed, ", "))
}

func parseForget(obj map[string]json.RawMessage) (*ForgetContent, error) {
	if err := allowOnly(obj, "FORGET", "hashes", "aggregates", "reason"); err != nil {
		return nil, err
	}
	f := &ForgetContent{}
	for key, dst := range map[string]*[]string{"hashes": &f.Hashes, "aggregates": &f.Aggregates} {
		r, ok := obj[key]
		if !ok || isNull(r) {
			continue
		}
		if err := json.Unmarshal(r, dst); err != nil {
			return nil, Errorf(CodeInvalidFormat, "content.%s must be a list of strings", key)
		}
		if len(*dst) > MaxForgetTargets {
			return nil, Errorf(CodeInvalidFormat, "content.%s has more than %d entries", key, MaxForgetTargets)
		}
		if key == "hashes" {
			for _, h := range *dst {
				if !ValidHash(h) {
					return nil, Errorf(CodeInvalidFormat, "content.hashes: %q is not an item hash", truncate(h, 80))
				}
			}
		}
	}
	if err := str(obj, "reason", &f.Reason, false); err != nil {
		return nil, err
	}
	if len([]rune(f.Reason)) > MaxForgetReason {
		return nil, Errorf(CodeInvalidFormat, "content.reason longer than %d characters", MaxForgetReason)
	}
	return f, nil
}
