package sandbox

import (
	"errors"

	"github.com/goaleph/goaleph/internal/compute/slirp"
)

// The network of a program with internet (docs/design/0006-sandbox.md): the
// sandbox has a network namespace of its own, and slirp4netns, a process of
// the node's, gives it a tap device behind a user-mode NAT (package slirp).
const (
	slirpDNS = slirp.DNS
	slirpTap = slirp.Tap
)

// ErrNoNetworkIsolation is returned by Prepare for a program with internet
// when slirp4netns is missing and Config.RequireNetworkIsolation is set.
var ErrNoNetworkIsolation = errors.New("sandbox: slirp4netns not found: a program with internet cannot have a network namespace of its own")
