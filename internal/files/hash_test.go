package files

import (
	"errors"
	"strings"
	"testing"

	cid "github.com/ipfs/go-cid"
)

func TestEngineOf(t *testing.T) {
	cases := []struct {
		hash string
		want Engine // "" = ErrBadHash
	}{
		{"bb6e53f2" + strings.Repeat("0", 52) + "f8a3", Native},
		{strings.Repeat("a", 64), Native},
		{strings.Repeat("A", 64), ""},        // upper-case hex is not canonical
		{strings.Repeat("a", 63), ""},        // short
		{strings.Repeat("a", 65), ""},        // long
		{strings.Repeat("g", 64), ""},        // not hex
		{"0x" + strings.Repeat("a", 62), ""}, // prefixed
		{" " + strings.Repeat("a", 63), ""},  // space
		{"QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH", IPFS},
		{"QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o", IPFS},
		{"QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5", ""},  // 45 chars
		{"QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff50", ""}, // '0' is not base58
		{"QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5oo", ""},
		{"bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4", IPFS},
		{"bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64", IPFS},
		{"BAFKREIFJJCIE6LYPI6NY7AMXNFFTAGCLBUXNDQONFIPMB64F2KM2DEVEI4", ""},   // upper-case multibase
		{"bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei", ""},    // short
		{"bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei1", ""},   // '1' is not base32
		{"zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA", ""},             // base58 CIDv1
		{"bafyreib2rxk3rybk3aobmv5cjuql3bm2twh4jo5uxgf5ssqkfqjnrvhsmq", ""},   // dag-cbor, not a file
		{"bagaaierasords4njcts6vs7qvdjfcvgnume4hqohf65zsfguprqphs3icwea", ""}, // other codec, other length
		{"", ""},
		{"../../etc/passwd", ""},
	}
	for _, tc := range cases {
		got, err := EngineOf(tc.hash)
		if tc.want == "" {
			if !errors.Is(err, ErrBadHash) {
				t.Errorf("EngineOf(%q) = %q, %v; want ErrBadHash", tc.hash, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("EngineOf(%q) = %q, %v; want %q", tc.hash, got, err, tc.want)
		}
	}
}

// FuzzEngineOf feeds untrusted strings to the hash parser: it must not
// panic, and what it accepts must be in canonical form and safe to use as a
// file name.
func FuzzEngineOf(f *testing.F) {
	for _, s := range []string{
		strings.Repeat("a", 64),
		"QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
		"bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4",
		"bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64",
		"", "Qm", "bafy", "../x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := EngineOf(s)
		if err != nil {
			if !errors.Is(err, ErrBadHash) {
				t.Fatalf("EngineOf(%q) error %v is not ErrBadHash", s, err)
			}
			return
		}
		if strings.ContainsAny(s, "/\\.\x00") || len(s) < 3 {
			t.Fatalf("EngineOf accepted unsafe name %q", s)
		}
		switch e {
		case Native:
			if !isSHA256Hex(s) {
				t.Fatalf("EngineOf(%q) = storage", s)
			}
		case IPFS:
			c, err := cid.Decode(s)
			if err != nil || c.String() != s {
				t.Fatalf("EngineOf(%q) = ipfs but it does not round-trip: %v", s, err)
			}
		default:
			t.Fatalf("EngineOf(%q) = %q", s, e)
		}
	})
}
