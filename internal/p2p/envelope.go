package p2p

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"

	"github.com/goaleph/goaleph/message"
)

// parseEnvelope decodes a gossiped message envelope. The payload is JSON;
// the reference node URL-decodes it first (legacy), so a payload that does
// not parse as it is is tried again percent-decoded.
func parseEnvelope(data []byte) (*message.Message, error) {
	m, err := message.Parse(data)
	if err != nil && bytes.IndexByte(data, '%') >= 0 {
		if m2, err2 := message.Parse(unquote(data)); err2 == nil {
			return m2, nil
		}
	}
	return m, err
}

// unquote decodes %XX escapes like Python's urllib.parse.unquote: an
// invalid escape is kept as it is, and '+' is not a space.
func unquote(s []byte) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				out = append(out, hi<<4|lo)
				i += 2
				continue
			}
		}
		out = append(out, s[i])
	}
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// messageID is the gossipsub message id on the message topic: the item
// hash, so that copies of one message published by several nodes are
// dropped as duplicates before validation, followed by a digest of the
// signature, so that a forged copy (same hash, bad signature) seen first
// cannot shadow the genuine one. A payload that is not an envelope gets
// the digest of its bytes.
func messageID(pm *pb.Message) string {
	var e struct {
		ItemHash  string `json:"item_hash"`
		Signature string `json:"signature"`
	}
	data := pm.GetData()
	if len(data) <= MaxPayload {
		err := json.Unmarshal(data, &e)
		if (err != nil || e.ItemHash == "") && bytes.IndexByte(data, '%') >= 0 {
			e.ItemHash, e.Signature = "", ""
			err = json.Unmarshal(unquote(data), &e)
		}
		if err == nil && e.ItemHash != "" && len(e.ItemHash) <= 128 {
			sig := sha256.Sum256([]byte(e.Signature))
			return e.ItemHash + "/" + hex.EncodeToString(sig[:8])
		}
	}
	sum := sha256.Sum256(data)
	return "raw/" + hex.EncodeToString(sum[:])
}
