// Package tezos verifies and makes the signatures of Tezos (TEZOS) accounts:
// tz1 (ed25519), tz2 (secp256k1) and tz3 (P-256).
//
// Importing the package registers its verifier with package chain for TEZOS.
//
// The signature field is a JSON object in a string:
// {"signature":"<sig…|edsig…|spsig1…|p2sig…>","publicKey":"<edpk…|sppk…|p2pk…>"},
// optionally with "signingType" ("raw", the default, or "micheline") and
// "dAppUrl" (default "aleph.im"). Acceptance follows pyaleph's
// TezosVerifier (json.loads, pytezos's Key.from_encoded_key and Key.verify):
//
//   - "raw": the signed bytes are the verification buffer.
//   - "micheline": the signed bytes are what Beacon wallets sign,
//     0x05 0x01 0x00, the decimal length of the hex of the text, then the
//     text "Tezos Signed Message: <dAppUrl> <time> <buffer>", where time is
//     the envelope time in ISO 8601 with milliseconds and a Z
//     (2022-09-23T14:41:19.029Z). Only VerifyAt, which is given the time,
//     accepts this form.
//   - Deliberately more than pyaleph accepts: the Micheline form with the
//     time stamp the TypeScript SDK (@aleph-sdk/tezos 1.7) writes, which
//     formats the envelope's seconds as if they were milliseconds
//     (1796642618.717 → 1970-01-21T19:04:02.618Z). pyaleph refuses every
//     message that SDK signs; this node accepts them. That stamp keeps only
//     the whole seconds of the time, so the signature does not pin the
//     envelope time's fraction of a second.
//   - The key and signature are base58check with their Tezos prefix, at the
//     exact encoded length. A curve-specific signature must match the key's
//     curve; a generic "sig…" signature goes with any key.
//   - The signature is over the 32-byte BLAKE2b digest of the signed bytes:
//     ed25519 with libsodium's checks, secp256k1 ECDSA with libsecp256k1's
//     (low S required), P-256 ECDSA as fastecdsa checks it (either S).
//
// One deliberate difference: pyaleph only logs a sender that is not the
// public key's hash (tz1/tz2/tz3) and accepts the message, which would let
// any key sign messages naming any address. This verifier refuses it.
package tezos

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	ethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/mr-tron/base58"
	"golang.org/x/crypto/blake2b"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/sol"
)

// Chains lists the chain names whose messages use Tezos signatures.
var Chains = []string{"TEZOS"}

func init() {
	chain.Register(Verifier{}, Chains...)
}

// DefaultDAppURL is the dApp URL a Micheline signature is taken to name when
// its "dAppUrl" member is absent.
const DefaultDAppURL = "aleph.im"

// Verifier verifies Tezos signatures. The zero value is ready to use and
// safe for concurrent use.
type Verifier struct{}

var _ chain.TimedVerifier = Verifier{}

// Verify returns nil when signature is sender's raw-form signature of buffer,
// and an error wrapping chain.ErrInvalidSignature otherwise. A Micheline
// signature needs the message time: use VerifyAt.
func (Verifier) Verify(sender string, buffer []byte, signature string) error {
	return chain.Invalid(verify(sender, buffer, signature, math.NaN()))
}

// VerifyAt is Verify for a message whose envelope time is t (Unix seconds);
// it accepts both the raw and the Micheline forms.
func (Verifier) VerifyAt(sender string, buffer []byte, signature string, t float64) error {
	return chain.Invalid(verify(sender, buffer, signature, t))
}

// curve is a Tezos key kind.
type curve byte

const (
	ed25519Curve   curve = 'e' // tz1, edpk, edsig, edsk
	secp256k1Curve curve = 's' // tz2, sppk, spsig1, spsk
	p256Curve      curve = 'p' // tz3, p2pk, p2sig, p2sk
)

// encoding is a base58check prefix: the text it gives, the encoded length,
// the prefix bytes and the payload size.
type encoding struct {
	text   string
	length int
	prefix []byte
	size   int
}

var (
	tz1 = encoding{"tz1", 36, []byte{6, 161, 159}, 20}
	tz2 = encoding{"tz2", 36, []byte{6, 161, 161}, 20}
	tz3 = encoding{"tz3", 36, []byte{6, 161, 164}, 20}

	edpk = encoding{"edpk", 54, []byte{13, 15, 37, 217}, 32}
	sppk = encoding{"sppk", 55, []byte{3, 254, 226, 86}, 33}
	p2pk = encoding{"p2pk", 55, []byte{3, 178, 139, 127}, 33}

	sigGeneric = encoding{"sig", 96, []byte{4, 130, 43}, 64}
	edsig      = encoding{"edsig", 99, []byte{9, 245, 205, 134, 18}, 64}
	spsig      = encoding{"spsig1", 99, []byte{13, 115, 101, 19, 63}, 64}
	p2sig      = encoding{"p2sig", 98, []byte{54, 240, 44, 52}, 64}

	edskSeed = encoding{"edsk", 54, []byte{13, 15, 58, 7}, 32}
	edsk     = encoding{"edsk", 98, []byte{43, 246, 78, 7}, 64}
	spsk     = encoding{"spsk", 54, []byte{17, 162, 224, 201}, 32}
	p2sk     = encoding{"p2sk", 54, []byte{16, 81, 238, 189}, 32}
)

// keyEncodings gives, per curve, the public key, signature and hash
// encodings.
var keyEncodings = map[curve]struct{ pk, sig, pkh encoding }{
	ed25519Curve:   {edpk, edsig, tz1},
	secp256k1Curve: {sppk, spsig, tz2},
	p256Curve:      {p2pk, p2sig, tz3},
}

// decode decodes s in encoding e: the text prefix, the length, the
// checksum and the prefix bytes must all match.
func decode(s string, e encoding) ([]byte, error) {
	if len(s) != e.length || !strings.HasPrefix(s, e.text) {
		return nil, fmt.Errorf("not a %d-character %s… string", e.length, e.text)
	}
	b, err := base58.Decode(s)
	if err != nil {
		return nil, errors.New("not base58")
	}
	if len(b) != len(e.prefix)+e.size+4 {
		return nil, fmt.Errorf("%s: %d bytes", e.text, len(b))
	}
	body, sum := b[:len(b)-4], b[len(b)-4:]
	if check := doubleSHA256(body); string(check[:4]) != string(sum) {
		return nil, fmt.Errorf("%s: bad checksum", e.text)
	}
	if string(body[:len(e.prefix)]) != string(e.prefix) {
		return nil, fmt.Errorf("%s: bad prefix", e.text)
	}
	return body[len(e.prefix):], nil
}

// encode returns payload in encoding e.
func encode(payload []byte, e encoding) string {
	b := append(append([]byte{}, e.prefix...), payload...)
	sum := doubleSHA256(b)
	return base58.Encode(append(b, sum[:4]...))
}

func doubleSHA256(b []byte) [32]byte {
	h := sha256.Sum256(b)
	return sha256.Sum256(h[:])
}

// publicKey is a decoded Tezos public key.
type publicKey struct {
	curve curve
	raw   []byte
}

func parsePublicKey(s string) (publicKey, error) {
	var c curve
	switch {
	case strings.HasPrefix(s, "edpk"):
		c = ed25519Curve
	case strings.HasPrefix(s, "sppk"):
		c = secp256k1Curve
	case strings.HasPrefix(s, "p2pk"):
		c = p256Curve
	default:
		return publicKey{}, errors.New("not an edpk, sppk or p2pk public key")
	}
	raw, err := decode(s, keyEncodings[c].pk)
	if err != nil {
		return publicKey{}, err
	}
	return publicKey{curve: c, raw: raw}, nil
}

// hash returns the key's address (tz1, tz2 or tz3).
func (k publicKey) hash() string {
	h, _ := blake2b.New(20, nil)
	h.Write(k.raw)
	return encode(h.Sum(nil), keyEncodings[k.curve].pkh)
}

// String returns the key's base58check form.
func (k publicKey) String() string { return encode(k.raw, keyEncodings[k.curve].pk) }

// verify checks sig (64 bytes) over the BLAKE2b-256 digest of msg.
func (k publicKey) verify(msg, sig []byte) error {
	digest := blake2b.Sum256(msg)
	switch k.curve {
	case ed25519Curve:
		if !sol.VerifyLibsodium(ed25519.PublicKey(k.raw), digest[:], sig) {
			return errors.New("ed25519 verification failed")
		}
	case secp256k1Curve:
		pub, err := secp256k1.ParsePubKey(k.raw)
		if err != nil {
			return errors.New("publicKey is not a secp256k1 point")
		}
		var r, s secp256k1.ModNScalar
		if r.SetByteSlice(sig[:32]) || s.SetByteSlice(sig[32:]) {
			return errors.New("signature scalar out of range")
		}
		if s.IsOverHalfOrder() {
			return errors.New("signature S is not low")
		}
		// go-ethereum's binding of libsecp256k1 (pure Go without cgo), the
		// library pytezos verifies with, and about 5 times faster here.
		if !ethcrypto.VerifySignature(pub.SerializeCompressed(), digest[:], sig) {
			return errors.New("secp256k1 verification failed")
		}
	case p256Curve:
		x, y := elliptic.UnmarshalCompressed(elliptic.P256(), k.raw)
		if x == nil {
			return errors.New("publicKey is not a P-256 point")
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(&ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}, digest[:], r, s) {
			return errors.New("p256 verification failed")
		}
	}
	return nil
}

// parseSignature decodes a signature for key k.
func parseSignature(s string, k publicKey) ([]byte, error) {
	if strings.HasPrefix(s, "sig") {
		return decode(s, sigGeneric)
	}
	var c curve
	switch {
	case strings.HasPrefix(s, "ed"):
		c = ed25519Curve
	case strings.HasPrefix(s, "sp"):
		c = secp256k1Curve
	case strings.HasPrefix(s, "p2"):
		c = p256Curve
	default:
		return nil, errors.New("not a Tezos signature")
	}
	if c != k.curve {
		return nil, errors.New("signature and public key curves differ")
	}
	return decode(s, keyEncodings[c].sig)
}

func verify(sender string, buffer []byte, signature string, t float64) error {
	fields, err := chain.ParseFields(signature)
	if err != nil {
		return err
	}
	sigText, keyText, err := fields.SignatureKey()
	if err != nil {
		return err
	}
	signingType := "raw"
	if _, ok := fields["signingType"]; ok {
		if signingType, err = fields.Text("signingType"); err != nil {
			return err
		}
	}
	dAppURL := DefaultDAppURL
	if _, ok := fields["dAppUrl"]; ok {
		if dAppURL, err = fields.Text("dAppUrl"); err != nil {
			return err
		}
	}
	// signed is what pyaleph reconstructs; for the Micheline form, what the
	// TypeScript SDK signs (see sdkTime) is tried when that fails.
	var signed []byte
	micheline := false
	switch signingType {
	case "raw":
		signed = buffer
	case "micheline":
		if math.IsNaN(t) {
			return errors.New("micheline signature needs the message time")
		}
		stamp, err := isoTime(t)
		if err != nil {
			return err
		}
		signed = MichelinePayload(buffer, stamp, dAppURL)
		micheline = true
	default:
		return fmt.Errorf("unsupported signingType %q", signingType)
	}
	key, err := parsePublicKey(keyText)
	if err != nil {
		return fmt.Errorf("publicKey: %v", err)
	}
	if key.hash() != sender {
		return errors.New("sender is not the public key's hash")
	}
	sig, err := parseSignature(sigText, key)
	if err != nil {
		return fmt.Errorf("signature: %v", err)
	}
	err = key.verify(signed, sig)
	if err != nil && micheline && key.verify(MichelinePayload(buffer, sdkTime(t), dAppURL), sig) == nil {
		return nil
	}
	return err
}

// MichelinePayload returns the bytes a Beacon wallet signs for buffer at
// the ISO 8601 time stamp (as isoTime makes it) from dAppURL.
func MichelinePayload(buffer []byte, stamp, dAppURL string) []byte {
	text := make([]byte, 0, len("Tezos Signed Message:")+len(dAppURL)+len(stamp)+len(buffer)+3)
	text = append(text, "Tezos Signed Message: "...)
	text = append(text, dAppURL...)
	text = append(text, ' ')
	text = append(text, stamp...)
	text = append(text, ' ')
	text = append(text, buffer...)
	out := []byte{0x05, 0x01, 0x00}
	out = strconv.AppendInt(out, int64(2*len(text)), 10)
	return append(out, text...)
}

// isoTime formats Unix seconds t as pyaleph does for the Micheline form:
// the UTC date (Python's datetime.fromtimestamp, which rounds to the
// microsecond half to even) with the milliseconds truncated and a Z.
func isoTime(t float64) (string, error) {
	if math.IsNaN(t) || math.IsInf(t, 0) || t < -62135596800 || t >= 253402300800 {
		return "", fmt.Errorf("message time %v is not a date", t)
	}
	sec, frac := math.Modf(t)
	us := math.RoundToEven(frac * 1e6)
	if us >= 1e6 {
		sec++
		us -= 1e6
	} else if us < 0 {
		sec--
		us += 1e6
	}
	tm := time.Unix(int64(sec), int64(us)*1000).UTC()
	return fmt.Sprintf("%sT%02d:%02d:%02d.%03dZ", tm.Format("2006-01-02"), tm.Hour(), tm.Minute(), tm.Second(), int(us)/1000), nil
}

// sdkTime formats Unix seconds t as the TypeScript SDK (@aleph-sdk/tezos
// 1.7) writes it in the Micheline payload: new Date(t).toISOString(), which
// reads the seconds as milliseconds, so that 1796642618.717 gives
// "1970-01-21T19:04:02.618Z" (JavaScript's Date truncates the number toward
// zero). t must be a date isoTime accepts, so it is within JavaScript's
// four-digit years.
func sdkTime(t float64) string {
	tm := time.UnixMilli(int64(math.Trunc(t))).UTC()
	return tm.Format("2006-01-02T15:04:05.000Z")
}
