package chain

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Fields is a signature written as a JSON object (the SOL, DOT, CSDK and
// TEZOS forms), its members by name.
type Fields map[string]json.RawMessage

// ParseFields decodes signature as a JSON object.
func ParseFields(signature string) (Fields, error) {
	var f Fields
	if err := json.Unmarshal([]byte(signature), &f); err != nil {
		return nil, errors.New("signature is not a JSON object")
	}
	return f, nil
}

// VerifyFields is a Verifier's Verify for a JSON-object signature: it
// parses signature and hands its members to check, and wraps whatever error
// either gives in ErrInvalidSignature.
func VerifyFields(sender string, buffer []byte, signature string, check func(sender string, buffer []byte, f Fields) error) error {
	f, err := ParseFields(signature)
	if err != nil {
		return Invalid(err)
	}
	return Invalid(check(sender, buffer, f))
}

// Text returns the JSON string member name of f.
func (f Fields) Text(name string) (string, error) {
	raw, ok := f[name]
	if !ok {
		return "", fmt.Errorf("no %q member", name)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%q is not a string", name)
	}
	return s, nil
}

// SignatureKey returns the JSON string members "signature" and
// "publicKey" of f (the SOL and TEZOS forms).
func (f Fields) SignatureKey() (signature, publicKey string, err error) {
	if signature, err = f.Text("signature"); err != nil {
		return "", "", err
	}
	if publicKey, err = f.Text("publicKey"); err != nil {
		return "", "", err
	}
	return signature, publicKey, nil
}

// Invalid returns nil when err is nil, and otherwise err's text wrapped in
// ErrInvalidSignature: what a Verifier returns for the reason its own check
// gave.
func Invalid(err error) error {
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidSignature, err)
	}
	return nil
}
