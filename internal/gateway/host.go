package gateway

import (
	"errors"
	"net"
	"strings"

	"github.com/goaleph/goaleph/internal/compute/crn"
)

// errBadHost is the error of a Host header that is not a DNS name.
var errBadHost = errors.New("gateway: host is not a domain name")

// hostKind says how a host is routed.
type hostKind int

const (
	hostZone   hostKind = iota // the zone itself: the gateway's own page
	hostHash                   // <base32 hash>.<zone>
	hostCustom                 // another domain: its _aleph-id TXT record
)

// parsedHost is a request's Host, normalised: lower case, no port, no
// trailing dot.
type parsedHost struct {
	name string
	kind hostKind
	hash string // hostHash: the program's item hash in hex
}

// parseHost normalises host and says how it is routed under zone (lower
// case, no trailing dot). IP addresses and names that are not valid DNS
// names (RFC 1035 lengths; letters, digits, '-' and '_') are errBadHost.
// A label under the zone that is not the base32 of a hash is errBadHost
// too: the zone's names are the gateway's, never a custom domain.
func parseHost(host, zone string) (parsedHost, error) {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	if !validName(name) || net.ParseIP(name) != nil {
		return parsedHost{}, errBadHost
	}
	p := parsedHost{name: name, kind: hostCustom}
	switch {
	case name == zone:
		p.kind = hostZone
	case zone != "" && strings.HasSuffix(name, "."+zone):
		label := strings.TrimSuffix(name, "."+zone)
		hash, ok := crn.HashFromLabel(label)
		if canon, _ := crn.HostLabel(hash); !ok || canon != label {
			// Not canonical base32 (trailing bits set): one program has
			// one name, so a flood of aliases cannot order certificates.
			return parsedHost{}, errBadHost
		}
		p.kind, p.hash = hostHash, hash
	}
	return p, nil
}

// validName reports whether name is a DNS name of at least two labels
// that the gateway may look up: at most 253 bytes, labels of 1 to 63
// letters, digits, hyphens or underscores, not starting or ending with a
// hyphen.
func validName(name string) bool {
	if len(name) == 0 || len(name) > 253 || !strings.Contains(name, ".") {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}
