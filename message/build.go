package message

import "time"

// Signer signs verification buffers for one account (chain.Signer
// implementations satisfy it).
type Signer interface {
	Chain() string
	Address() string
	Sign(buffer []byte) (string, error)
}

// NewInline builds an inline message of type t whose item_content is
// content (a JSON object text, used verbatim), signed by s. A zero t0 means
// now.
func NewInline(s Signer, t Type, channel string, content string, t0 time.Time) (*Message, error) {
	if t0.IsZero() {
		t0 = time.Now()
	}
	m := &Message{
		Chain:       s.Chain(),
		Sender:      s.Address(),
		Type:        t,
		ItemType:    ItemInline,
		ItemContent: content,
		ItemHash:    InlineHash(content),
		Time:        float64(t0.UnixMilli()) / 1000,
		Channel:     channel,
	}
	return m, Sign(s, m)
}

// Sign sets m's sender, chain and signature from s. The item hash and type
// must be set.
func Sign(s Signer, m *Message) error {
	m.Chain, m.Sender = s.Chain(), s.Address()
	sig, err := s.Sign(m.VerificationBuffer())
	if err != nil {
		return err
	}
	m.Signature = sig
	return nil
}
