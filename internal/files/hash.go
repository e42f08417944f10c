package files

import (
	"fmt"
	"strings"

	cid "github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// parseHash checks the shape of an untrusted hash string and tells its
// engine; for an IPFS hash it also returns the decoded CID. Only canonical
// forms are accepted (lowercase hex; a CID that re-encodes to the same
// string), so that one file has one name.
func parseHash(hash string) (Engine, cid.Cid, error) {
	if isSHA256Hex(hash) {
		return Native, cid.Undef, nil
	}
	switch {
	case len(hash) >= 44 && len(hash) <= 46 && strings.HasPrefix(hash, "Qm"):
	case len(hash) == 59 && (strings.HasPrefix(hash, "bafy") || strings.HasPrefix(hash, "bafk")):
	default:
		return "", cid.Undef, fmt.Errorf("%w: %.80q", ErrBadHash, hash)
	}
	c, err := cid.Decode(hash)
	if err != nil {
		return "", cid.Undef, fmt.Errorf("%w: %w", ErrBadHash, err)
	}
	p := c.Prefix()
	if c.String() != hash || p.MhType != mh.SHA2_256 || p.MhLength != 32 ||
		(p.Codec != cid.DagProtobuf && p.Codec != cid.Raw) {
		return "", cid.Undef, fmt.Errorf("%w: %q is not a canonical sha2-256 dag-pb or raw CID", ErrBadHash, hash)
	}
	return IPFS, c, nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
