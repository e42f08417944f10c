package message

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// Type is the type of a message.
type Type string

// The message types.
const (
	TypePost      Type = "POST"
	TypeAggregate Type = "AGGREGATE"
	TypeStore     Type = "STORE"
	TypeProgram   Type = "PROGRAM"
	TypeInstance  Type = "INSTANCE"
	TypeForget    Type = "FORGET"
)

// Types lists every message type.
var Types = []Type{TypePost, TypeAggregate, TypeStore, TypeProgram, TypeInstance, TypeForget}

// Valid reports whether t is a known message type.
func (t Type) Valid() bool {
	for _, k := range Types {
		if t == k {
			return true
		}
	}
	return false
}

// ItemType tells where the content of a message lives.
type ItemType string

// The item types.
const (
	ItemInline  ItemType = "inline"  // content is the item_content string
	ItemStorage ItemType = "storage" // content is a file addressed by sha256 hex
	ItemIPFS    ItemType = "ipfs"    // content is a file addressed by an IPFS CID
)

// Limits of the protocol.
const (
	// MaxInlineSize is the largest item_content accepted, in characters.
	MaxInlineSize = 200000
	// MaxTime is the first envelope time that is not a valid date (year 10000).
	MaxTime = 253402300800
	// MaxContentTime is the largest content.time accepted.
	MaxContentTime = 9223372036
	// MaxChannelLength is the longest channel name accepted.
	MaxChannelLength = 128
	// MaxSenderLength is the longest sender address accepted, in bytes.
	// The reference has no cap; every address format of the supported
	// chains is under 100 characters.
	MaxSenderLength = 256
	// MaxSignatureLength is the longest signature accepted, in bytes. The
	// reference has no cap; the longest signatures are the JSON-encoded
	// ones (CSDK, TEZOS), well under this.
	MaxSignatureLength = 4096
	// MaxItemHashLength is the longest item_hash accepted, in bytes (a
	// sha256 hex is 64, a CID at most 59).
	MaxItemHashLength = 128
	// MaxQuoted is how many bytes of a client-supplied value an error
	// message quotes before cutting it with "…".
	MaxQuoted = 64
)

// Chains lists every chain name of the protocol enum. A chain in this list
// without a registered verifier is rejected at signature time.
var Chains = []string{"ARB", "AURORA", "AVAX", "BASE", "BLAST", "BOB", "BSC", "CSDK", "CYBER", "DOT", "ES",
	"ETH", "ETHERLINK", "FRAX", "HYPE", "INK", "LENS", "LINEA", "LISK", "METIS", "MODE", "NEO", "NULS", "NULS2",
	"OP", "POL", "SOL", "STT", "SONIC", "TEZOS", "UNICHAIN", "WLD", "ZORA"}

var chainSet = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range Chains {
		m[c] = true
	}
	return m
}()

// KnownChain reports whether c is in the protocol's chain enum.
func KnownChain(c string) bool { return chainSet[c] }

// Message is the signed envelope of an Aleph message, as sent to
// POST /api/v0/messages, gossiped, and anchored on chain.
type Message struct {
	Sender      string   `json:"sender"`
	Chain       string   `json:"chain"`
	Signature   string   `json:"signature"`
	Type        Type     `json:"type"`
	ItemType    ItemType `json:"item_type"`
	ItemContent string   `json:"item_content,omitempty"`
	ItemHash    string   `json:"item_hash"`
	Time        float64  `json:"time"`
	Channel     string   `json:"channel,omitempty"`
}

// VerificationBuffer returns the bytes the sender signed:
// "{chain}\n{sender}\n{type}\n{item_hash}".
func (m *Message) VerificationBuffer() []byte {
	return []byte(m.Chain + "\n" + m.Sender + "\n" + string(m.Type) + "\n" + m.ItemHash)
}

// envelope is the permissive wire form used for parsing: fields are checked
// by hand so that errors say which field is wrong.
type envelope struct {
	Sender      *string          `json:"sender"`
	Chain       *string          `json:"chain"`
	Signature   *string          `json:"signature"`
	Type        *string          `json:"type"`
	ItemType    *string          `json:"item_type"`
	ItemContent *string          `json:"item_content"`
	ItemHash    *string          `json:"item_hash"`
	Time        *json.Number     `json:"time"`
	Channel     *string          `json:"channel"`
	Content     *json.RawMessage `json:"content"`
}

// ErrMissingSignature is returned by Parse for an envelope with no signature.
var ErrMissingSignature = errors.New("missing signature")

// Parse decodes and validates an envelope: required fields, chain and type
// enums, time range, item type against hash shape, inline size limit and
// item_hash == sha256(item_content). Unknown fields are ignored. It does
// not check the signature nor the content schema (see ParseContent).
// Errors are *Error with CodeInvalidFormat, or CodeInvalidSignature for a
// missing signature.
func Parse(data []byte) (*Message, error) {
	var e envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&e); err != nil {
		return nil, Errorf(CodeInvalidFormat, "envelope is not a JSON object: %v", err)
	}
	if dec.More() {
		return nil, Errorf(CodeInvalidFormat, "trailing data after envelope")
	}
	return e.validate(false)
}

// ParseUnsigned is Parse for a message that carries no signature by
// design: the synthetic message a node makes of a smart-contract event
// (spec core-node §7.2), whose sender the chain authenticated. A
// signature, if any, is kept; its absence is no error.
func ParseUnsigned(data []byte) (*Message, error) {
	var e envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, Errorf(CodeInvalidFormat, "envelope is not a JSON object: %v", err)
	}
	return e.validate(true)
}

// FromJSON validates an envelope given as a decoded JSON value (for example
// the "message" field of an API body).
func FromJSON(raw json.RawMessage) (*Message, error) { return Parse(raw) }

func (e *envelope) validate(unsigned bool) (*Message, error) {
	bad := func(format string, args ...any) (*Message, error) {
		return nil, Errorf(CodeInvalidFormat, format, args...)
	}
	if e.Sender == nil || *e.Sender == "" {
		return bad("sender is required")
	}
	if len(*e.Sender) > MaxSenderLength {
		return bad("sender longer than %d bytes", MaxSenderLength)
	}
	if e.Chain == nil {
		return bad("chain is required")
	}
	if !KnownChain(*e.Chain) {
		return bad("unknown chain %q", Quote(*e.Chain))
	}
	if e.Type == nil || !Type(*e.Type).Valid() {
		if e.Type == nil {
			return bad("type is required")
		}
		return bad("unknown message type %q", Quote(*e.Type))
	}
	if e.ItemHash == nil || *e.ItemHash == "" {
		return bad("item_hash is required")
	}
	if len(*e.ItemHash) > MaxItemHashLength {
		return bad("item_hash longer than %d bytes", MaxItemHashLength)
	}
	if e.Signature != nil && len(*e.Signature) > MaxSignatureLength {
		return bad("signature longer than %d bytes", MaxSignatureLength)
	}
	if e.Time == nil {
		return bad("time is required")
	}
	t, err := e.Time.Float64()
	if err != nil || math.IsNaN(t) || t < 0 || t >= MaxTime {
		return bad("time %s is not a valid epoch", Quote(e.Time.String()))
	}
	m := &Message{
		Sender:   *e.Sender,
		Chain:    *e.Chain,
		Type:     Type(*e.Type),
		ItemHash: *e.ItemHash,
		Time:     t,
	}
	if e.Channel != nil {
		if len(*e.Channel) > MaxChannelLength {
			return bad("channel longer than %d characters", MaxChannelLength)
		}
		m.Channel = *e.Channel
	}
	shape, shapeErr := ItemTypeOf(m.ItemHash)
	switch {
	case e.ItemContent != nil:
		m.ItemType = ItemInline
		if e.ItemType != nil && *e.ItemType != string(ItemInline) {
			return bad("item_content is only allowed for inline messages")
		}
		m.ItemContent = *e.ItemContent
		if utf8.RuneCountInString(m.ItemContent) > MaxInlineSize {
			return bad("Message too long: item_content exceeds %d characters", MaxInlineSize)
		}
		if !json.Valid([]byte(m.ItemContent)) {
			return bad("item_content is not valid JSON")
		}
		if strings.Contains(m.ItemContent, `\u0000`) {
			return bad("item_content contains a NUL escape")
		}
		if h := InlineHash(m.ItemContent); h != m.ItemHash {
			return bad("item_hash %s does not match sha256(item_content) %s", m.ItemHash, h)
		}
	default:
		if e.ItemType != nil && *e.ItemType == string(ItemInline) {
			return bad("inline message without item_content")
		}
		if shapeErr != nil {
			return nil, shapeErr
		}
		if e.ItemType != nil && *e.ItemType != string(shape) {
			return bad("item_type %q does not match the shape of item_hash %s", Quote(*e.ItemType), m.ItemHash)
		}
		m.ItemType = shape
	}
	if e.Signature == nil || *e.Signature == "" {
		if unsigned {
			return m, nil
		}
		return nil, &Error{Code: CodeInvalidSignature, Err: ErrMissingSignature}
	}
	m.Signature = *e.Signature
	return m, nil
}

// InlineHash returns the item hash of an inline message: lowercase hex
// sha256 of the UTF-8 bytes of item_content.
func InlineHash(itemContent string) string {
	sum := sha256.Sum256([]byte(itemContent))
	return hex.EncodeToString(sum[:])
}

// ItemTypeOf infers the item type of a non-inline item hash from its shape:
// 64 lowercase hex characters → storage; Qm… (44–46 base58btc) or bafy…/bafk…
// (59 base32) → ipfs.
func ItemTypeOf(hash string) (ItemType, error) {
	switch {
	case isHex64(hash):
		return ItemStorage, nil
	case strings.HasPrefix(hash, "Qm") && len(hash) >= 44 && len(hash) <= 46 && isCharset(hash, base58Alphabet):
		return ItemIPFS, nil
	case (strings.HasPrefix(hash, "bafy") || strings.HasPrefix(hash, "bafk")) && len(hash) == 59 && isCharset(hash, base32Alphabet):
		return ItemIPFS, nil
	}
	return "", Errorf(CodeInvalidFormat, "item hash %q has an unknown shape", Quote(hash))
}

// ValidHash reports whether s has the shape of any item hash (sha256 hex or CID).
func ValidHash(s string) bool {
	_, err := ItemTypeOf(s)
	return err == nil
}

const (
	base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	base32Alphabet = "abcdefghijklmnopqrstuvwxyz234567"
)

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func isCharset(s, set string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the prefix stays valid UTF-8.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Quote returns s, or its first MaxQuoted bytes followed by "…" when it
// is longer: the form in which errors echo client-supplied values.
func Quote(s string) string { return truncate(s, MaxQuoted) }

// MarshalJSON writes the envelope in the field order the official SDK uses,
// with "channel" null when empty and item_content only for inline items.
func (m Message) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"chain":`)
	writeJSON(&b, m.Chain)
	b.WriteString(`,"sender":`)
	writeJSON(&b, m.Sender)
	b.WriteString(`,"channel":`)
	if m.Channel == "" {
		b.WriteString("null")
	} else {
		writeJSON(&b, m.Channel)
	}
	b.WriteString(`,"time":`)
	b.WriteString(FormatTime(m.Time))
	b.WriteString(`,"item_type":`)
	writeJSON(&b, string(m.ItemType))
	b.WriteString(`,"item_hash":`)
	writeJSON(&b, m.ItemHash)
	if m.ItemType == ItemInline {
		b.WriteString(`,"item_content":`)
		writeJSON(&b, m.ItemContent)
	}
	b.WriteString(`,"signature":`)
	writeJSON(&b, m.Signature)
	b.WriteString(`,"type":`)
	writeJSON(&b, string(m.Type))
	b.WriteByte('}')
	return b.Bytes(), nil
}

// FormatTime formats an epoch time as a JSON number the way Python's repr
// does for floats (always with a fractional part).
func FormatTime(t float64) string {
	b, _ := json.Marshal(t)
	s := string(b)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

func writeJSON(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s)
	b.Write(enc)
}

// String returns a short description for logs.
func (m *Message) String() string {
	return fmt.Sprintf("%s %s from %s/%s", m.Type, m.ItemHash, m.Chain, m.Sender)
}
