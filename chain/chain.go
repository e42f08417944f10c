// Package chain holds the signature verifiers of the chains an Aleph message
// can be signed on, registered by chain name, and the verification buffer
// every chain signs.
//
// Verifiers live in sub-packages (chain/eth, chain/sol) that register
// themselves from init; a binary selects the chains it supports by importing
// them, as with database/sql drivers.
package chain

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// ErrInvalidSignature reports a signature that does not verify: malformed,
// made by another key, or over another buffer.
var ErrInvalidSignature = errors.New("invalid signature")

// ErrUnsupportedChain reports a chain name that no verifier is registered for.
var ErrUnsupportedChain = errors.New("unsupported chain")

// Verifier checks a signature over a verification buffer for one family of
// chains. Implementations are safe for concurrent use.
type Verifier interface {
	// Verify returns nil when signature is a valid signature of buffer by
	// sender, and otherwise an error wrapping ErrInvalidSignature. It never
	// panics, whatever the input.
	Verify(sender string, buffer []byte, signature string) error
}

// Signer signs verification buffers for one account, producing what the
// official SDKs would send.
type Signer interface {
	// Chain returns the chain name the signer signs for ("ETH", "SOL").
	Chain() string
	// Address returns the sender as the official SDK writes it: EIP-55
	// checksummed for ETH, the base58 public key for SOL.
	Address() string
	// Sign returns the message's signature field exactly as the SDK writes it.
	Sign(buffer []byte) (string, error)
}

// TimedVerifier is a Verifier whose scheme can also sign the message's
// envelope time: Tezos wallets sign a "Tezos Signed Message" payload that
// embeds it. Verify on such a verifier accepts only the forms that do not
// need the time.
type TimedVerifier interface {
	Verifier
	// VerifyAt is Verify for a message whose envelope time is time (seconds
	// since the Unix epoch, as in the envelope).
	VerifyAt(sender string, buffer []byte, signature string, time float64) error
}

var (
	mu        sync.RWMutex
	verifiers = map[string]Verifier{}
)

// Register makes v the verifier of each named chain. It panics if v is nil,
// a name is empty, or a name already has a verifier, since all of these are
// programming errors caught at init time.
//
// Register, Lookup and Chains follow the idiom the node uses for every
// implementation chosen by name (its internal registry package: Register
// panicking on an empty or duplicate name, a lookup by name, the sorted
// names); this package keeps its own copy because it imports nothing of
// the node's.
func Register(v Verifier, chains ...string) {
	if v == nil {
		panic("chain: Register with a nil verifier")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, name := range chains {
		if name == "" {
			panic("chain: verifier registered with an empty name")
		}
		if _, dup := verifiers[name]; dup {
			panic(fmt.Sprintf("chain: verifier %q registered twice", name))
		}
	}
	for _, name := range chains {
		verifiers[name] = v
	}
}

// Lookup returns the verifier registered for chain, if any. Names are
// case-sensitive, as in the message envelope.
func Lookup(chain string) (Verifier, bool) {
	mu.RLock()
	defer mu.RUnlock()
	v, ok := verifiers[chain]
	return v, ok
}

// Verify checks signature over buffer with the verifier of chain. It returns
// an error wrapping ErrUnsupportedChain when chain has no verifier, and the
// verifier's error (wrapping ErrInvalidSignature) when the signature is bad.
func Verify(chain, sender string, buffer []byte, signature string) error {
	v, ok := Lookup(chain)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnsupportedChain, chain)
	}
	return v.Verify(sender, buffer, signature)
}

// VerifyMessage is Verify for a message whose envelope time is time: chains
// whose verifier is a TimedVerifier get the time, the others ignore it.
func VerifyMessage(chain, sender string, buffer []byte, signature string, time float64) error {
	v, ok := Lookup(chain)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnsupportedChain, chain)
	}
	if tv, ok := v.(TimedVerifier); ok {
		return tv.VerifyAt(sender, buffer, signature, time)
	}
	return v.Verify(sender, buffer, signature)
}

// Chains returns the sorted names of the chains that have a verifier.
func Chains() []string {
	mu.RLock()
	names := make([]string, 0, len(verifiers))
	for name := range verifiers {
		names = append(names, name)
	}
	mu.RUnlock()
	sort.Strings(names)
	return names
}

// Buffer returns the bytes every chain signs for a message:
// "{chain}\n{sender}\n{type}\n{item_hash}" in UTF-8, with no trailing newline
// (pyaleph's get_verification_buffer).
func Buffer(chain, sender, msgType, itemHash string) []byte {
	b := make([]byte, 0, len(chain)+len(sender)+len(msgType)+len(itemHash)+3)
	b = append(b, chain...)
	b = append(b, '\n')
	b = append(b, sender...)
	b = append(b, '\n')
	b = append(b, msgType...)
	b = append(b, '\n')
	b = append(b, itemHash...)
	return b
}
