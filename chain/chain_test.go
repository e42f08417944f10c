package chain_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/goaleph/goaleph/chain"
)

// fixed accepts exactly one signature.
type fixed string

func (f fixed) Verify(sender string, buffer []byte, signature string) error {
	if signature != string(f) {
		return chain.ErrInvalidSignature
	}
	return nil
}

func TestBuffer(t *testing.T) {
	tests := []struct {
		chain, sender, typ, hash string
		want                     string
	}{
		{"ETH", "SENDER", "STORE", "7e4f", "ETH\nSENDER\nSTORE\n7e4f"},
		{"SOL", "5anTrr8it9ETBZZJE7EE6QzFz5JxFoRC6w6yV9RrBanA", "POST", "2ccf", "SOL\n5anTrr8it9ETBZZJE7EE6QzFz5JxFoRC6w6yV9RrBanA\nPOST\n2ccf"},
		{"", "", "", "", "\n\n\n"},
		{"ETH", "0xAbC", "FORGET", "Qm", "ETH\n0xAbC\nFORGET\nQm"}, // case kept verbatim
		{"X", "é", "T", "h", "X\né\nT\nh"},
	}
	for _, tc := range tests {
		if got := string(chain.Buffer(tc.chain, tc.sender, tc.typ, tc.hash)); got != tc.want {
			t.Errorf("Buffer(%q, %q, %q, %q) = %q, want %q", tc.chain, tc.sender, tc.typ, tc.hash, got, tc.want)
		}
	}
}

func TestRegistry(t *testing.T) {
	chain.Register(fixed("good"), "TEST-A", "TEST-B")

	for _, name := range []string{"TEST-A", "TEST-B"} {
		if _, ok := chain.Lookup(name); !ok {
			t.Fatalf("Lookup(%q) found nothing", name)
		}
		if err := chain.Verify(name, "s", nil, "good"); err != nil {
			t.Fatalf("Verify(%q, good) = %v", name, err)
		}
		if err := chain.Verify(name, "s", nil, "bad"); !errors.Is(err, chain.ErrInvalidSignature) {
			t.Fatalf("Verify(%q, bad) = %v, want ErrInvalidSignature", name, err)
		}
	}
	for _, name := range []string{"TEST-C", "test-a", "", "AURORA"} {
		if _, ok := chain.Lookup(name); ok {
			t.Errorf("Lookup(%q) found a verifier", name)
		}
		err := chain.Verify(name, "s", nil, "good")
		if !errors.Is(err, chain.ErrUnsupportedChain) || errors.Is(err, chain.ErrInvalidSignature) {
			t.Errorf("Verify(%q) = %v, want ErrUnsupportedChain only", name, err)
		}
		if err != nil && !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("Verify(%q) error %q does not name the chain", name, err)
		}
	}

	names := chain.Chains()
	if !slices.IsSorted(names) {
		t.Errorf("Chains() = %v, not sorted", names)
	}
	for _, want := range []string{"TEST-A", "TEST-B"} {
		if !slices.Contains(names, want) {
			t.Errorf("Chains() = %v, missing %s", names, want)
		}
	}
}

func TestRegisterPanics(t *testing.T) {
	chain.Register(fixed("x"), "TEST-DUP")
	tests := []struct {
		name  string
		v     chain.Verifier
		names []string
	}{
		{"duplicate", fixed("y"), []string{"TEST-DUP"}},
		{"duplicate in a later name", fixed("y"), []string{"TEST-NEW", "TEST-DUP"}},
		{"empty name", fixed("y"), []string{""}},
		{"nil verifier", nil, []string{"TEST-NIL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("Register did not panic")
				}
			}()
			chain.Register(tc.v, tc.names...)
		})
	}
	// A failed Register registers nothing.
	if _, ok := chain.Lookup("TEST-NEW"); ok {
		t.Error("TEST-NEW registered by a panicking Register")
	}
	if err := chain.Verify("TEST-DUP", "", nil, "x"); err != nil {
		t.Errorf("first registration replaced: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	chain.Register(fixed("c"), "TEST-CONC")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if i == 0 {
				chain.Register(fixed("d"), "TEST-CONC-LATE")
			}
			for range 100 {
				_ = chain.Verify("TEST-CONC", "", nil, "c")
				_ = chain.Chains()
			}
		})
	}
	wg.Wait()
}

// timed accepts a signature only at one time through VerifyAt, and never
// through Verify.
type timed float64

func (timed) Verify(sender string, buffer []byte, signature string) error {
	return chain.ErrInvalidSignature
}

func (t timed) VerifyAt(sender string, buffer []byte, signature string, at float64) error {
	if at != float64(t) {
		return chain.ErrInvalidSignature
	}
	return nil
}

func TestVerifyMessage(t *testing.T) {
	chain.Register(timed(12.5), "TEST-TIMED")
	chain.Register(fixed("good"), "TEST-UNTIMED")
	if err := chain.VerifyMessage("TEST-TIMED", "s", nil, "x", 12.5); err != nil {
		t.Fatalf("timed verifier at its time: %v", err)
	}
	if err := chain.VerifyMessage("TEST-TIMED", "s", nil, "x", 13); !errors.Is(err, chain.ErrInvalidSignature) {
		t.Fatalf("timed verifier at another time: %v", err)
	}
	if err := chain.Verify("TEST-TIMED", "s", nil, "x"); !errors.Is(err, chain.ErrInvalidSignature) {
		t.Fatalf("Verify does not pass the time: %v", err)
	}
	if err := chain.VerifyMessage("TEST-UNTIMED", "s", nil, "good", 99); err != nil {
		t.Fatalf("plain verifier through VerifyMessage: %v", err)
	}
	if err := chain.VerifyMessage("TEST-NONE", "s", nil, "good", 1); !errors.Is(err, chain.ErrUnsupportedChain) {
		t.Fatalf("unknown chain: %v", err)
	}
}
