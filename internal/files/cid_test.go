package files

import (
	"bytes"
	"crypto/sha256"
	"io"
	"strings"
	"testing"

	uio "github.com/ipfs/boxo/ipld/unixfs/io"
	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"golang.org/x/crypto/chacha20"
)

// kuboBytes is the deterministic content kubo's CLI tests add with
// IPFSAddDeterministicBytes(size, seed) (test/cli/testutils/random_deterministic.go):
// the ChaCha20 key stream under key sha256(seed) and an all-zero nonce.
func kuboBytes(t testing.TB, size int64, seed string) io.Reader {
	key := sha256.Sum256([]byte(seed))
	c, err := chacha20.NewUnauthenticatedCipher(key[:], make([]byte, chacha20.NonceSize))
	if err != nil {
		t.Fatal(err)
	}
	return io.LimitReader(keyStream{c}, size)
}

type keyStream struct{ c *chacha20.Cipher }

func (k keyStream) Read(p []byte) (int, error) {
	clear(p)
	k.c.XORKeyStream(p, p)
	return len(p), nil
}

// The expected CIDs are the answers of kubo itself:
//   - kubo test/cli/cid_profiles_test.go pins what `ipfs add` gives under the
//     default settings (= profile unixfs-v0-2015) and under unixfs-v1-2025
//     for "hello world" and for kuboBytes around the chunk size and the
//     174-link threshold, and asserts that its default matches unixfs-v0-2015
//     (TestDefaultMatchesExpectedProfile);
//   - the kubo README: `echo "hello world" > hello; ipfs add hello` gives
//     QmT78zSu…; QmbFMke1… is the well-known `ipfs add` of an empty file;
//   - bafkreifj… is the raw-leaf CIDv1 of "hello world\n" (kubo's
//     `ipfs add --cid-version=1`), the same file kubo's docs and boxo's
//     gateway tests serve.
func TestCIDKuboVectors(t *testing.T) {
	const chunk = 256 << 10
	cases := []struct {
		name    string
		content func() io.Reader
		version int
		want    string
	}{
		{"empty", func() io.Reader { return strings.NewReader("") }, 0, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"},
		{"hello world", func() io.Reader { return strings.NewReader("hello world") }, 0, "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"},
		{"hello world\\n", func() io.Reader { return strings.NewReader("hello world\n") }, 0, "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"},
		{"hello world\\n v1", func() io.Reader { return strings.NewReader("hello world\n") }, 1, "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"},
		{"hello world v1", func() io.Reader { return strings.NewReader("hello world") }, 1, "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"},
		{"one chunk", func() io.Reader { return kuboBytes(t, chunk, "chunk-v0-seed") }, 0, "QmWmRj3dFDZdb6ABvbmKhEL6TmPbAfBZ1t5BxsEyJrcZhE"},
		{"two chunks", func() io.Reader { return kuboBytes(t, chunk+1, "chunk-v0-seed") }, 0, "QmYyLxtzZyW22zpoVAtKANLRHpDjZtNeDjQdJrcQNWoRkJ"},
		{"174 chunks, one layer", func() io.Reader { return kuboBytes(t, 174*chunk, "v0-seed") }, 0, "QmUbBALi174SnogsUzLpYbD4xPiBSFANF4iztWCsHbMKh2"},
		{"175 chunks, two layers", func() io.Reader { return kuboBytes(t, 174*chunk+1, "v0-seed") }, 0, "QmV81WL765sC8DXsRhE5fJv2rwhS4icHRaf3J9Zk5FdRnW"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CID(tc.content(), tc.version)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("CID = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestBuildDAGKuboV1Profile checks the raw-leaf, CIDv1 multi-chunk path of
// the builder against kubo's unixfs-v1-2025 vectors (1 MiB chunks, raw
// leaves), from the same kubo test file.
func TestBuildDAGKuboV1Profile(t *testing.T) {
	const chunk = 1 << 20
	cases := []struct {
		name    string
		content io.Reader
		want    string
	}{
		{"hello world", strings.NewReader("hello world"), "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"},
		{"one chunk", kuboBytes(t, chunk, "chunk-v1-seed"), "bafkreiacndfy443ter6qr2tmbbdhadvxxheowwf75s6zehscklu6ezxmta"},
		{"two chunks", kuboBytes(t, chunk+1, "chunk-v1-seed"), "bafybeigmix7t42i6jacydtquhet7srwvgpizfg7gjbq7627d35mjomtu64"},
	}
	for _, tc := range cases {
		nd, err := buildDAG(tc.content, discardDAG{}, uio.UnixFS_v1_2025)
		if err != nil {
			t.Fatal(err)
		}
		if got := nd.Cid().String(); got != tc.want {
			t.Errorf("%s: CID = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestCIDEmptyV1 checks the raw-leaf CIDv1 of empty content against one
// built by hand: the raw codec over sha2-256 of nothing.
func TestCIDEmptyV1(t *testing.T) {
	h, err := mh.Sum(nil, mh.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	want := cid.NewCidV1(cid.Raw, h).String()
	got, err := CID(bytes.NewReader(nil), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("CID = %s, want %s", got, want)
	}
}

func TestCIDBadVersion(t *testing.T) {
	if _, err := CID(strings.NewReader("x"), 2); err == nil {
		t.Fatal("CID version 2 accepted")
	}
}
