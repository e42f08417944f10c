package guest

import (
	"fmt"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
)

// Version is the protocol version the guest announces in its hello. The
// major version follows the reference runtime's init ("2.0.0"), whose
// payloads this protocol carries; the rest is ours.
const Version = "2.0.0-goaleph.1"

// Kind is the kind of a message, its "kind" field on the wire.
type Kind string

// Message kinds. "→" is the direction: host → guest or guest → host.
const (
	// KindHello (guest → host, id 0) is the guest's first frame: it is up
	// and announces Version.
	KindHello Kind = "hello"
	// KindConfig (host → guest) carries the program's Config; answered by
	// a KindConfigResult with the same id.
	KindConfig Kind = "config"
	// KindConfigResult (guest → host) says whether the program started:
	// Success, or Error and Traceback.
	KindConfigResult Kind = "config_result"
	// KindRequest (host → guest) carries one Scope; answered by one
	// KindResponse with the same id.
	KindRequest Kind = "request"
	// KindResponse (guest → host) carries a Response, or Error and
	// Traceback when the program could not answer.
	KindResponse Kind = "response"
	// KindCancel (host → guest) abandons the request with the same id;
	// the guest may still answer it, and the host drops that answer.
	KindCancel Kind = "cancel"
	// KindLog (guest → host, id 0) is one line the program wrote.
	KindLog Kind = "log"
	// KindHalt (host → guest) stops the program; answered by a
	// KindHaltAck with the same id, after which the guest exits.
	KindHalt Kind = "halt"
	// KindHaltAck (guest → host) says the program has stopped.
	KindHaltAck Kind = "halt_ack"
)

// Message is one frame's content. Which fields are set depends on Kind; on
// the wire all of them are keys of one flat msgpack map beside "id" and
// "kind", so that each payload is the reference runtime's map plus those
// two keys (see docs/design/0005-guest-protocol.md).
type Message struct {
	// ID pairs an answer with its question; 0 for hello and log lines.
	ID   uint64
	Kind Kind

	// Version is the hello's protocol version.
	Version string
	// Config is the config's payload.
	Config *Config
	// Success is the config result's outcome.
	Success bool
	// Error and Traceback describe a failed config or request.
	Error     string
	Traceback string
	// Scope is the request's payload.
	Scope *compute.Scope
	// Response is a successful response's payload.
	Response *compute.Response
	// Log is the log line's payload.
	Log *compute.LogLine
}

// Config is the program's configuration, the reference runtime's
// configuration map (compute-node spec §1.4) plus Launcher.
type Config struct {
	// Interface is "executable" or "asgi".
	Interface compute.Interface
	// VMHash is the program's item hash.
	VMHash string
	// Encoding is how Code is packed: "plain" (the entrypoint file's
	// bytes), "zip", or "squashfs" / empty when the code is already in
	// the guest's code directory.
	Encoding   string
	Entrypoint string
	Code       []byte
	// InputData is the zip of the program's data, if any.
	InputData []byte
	// Network of the guest (VM backends): IPv4 without mask (/24 assumed),
	// its gateway, IPv6 with mask and its gateway, resolvers.
	IP          string
	Route       string
	IPv6        string
	IPv6Gateway string
	DNSServers  []string
	Volumes     []VolumeConfig
	// Variables are the program's environment variables.
	Variables      map[string]string
	AuthorizedKeys []string
	// Launcher is the argv that serves an ASGI program over HTTP; the
	// entrypoint ("module:app") is appended. Empty means the guest's own
	// launcher. Not in the reference, whose runtime imports the app itself.
	Launcher []string
	// Entropy, Clock and MAC give a micro VM restored from a snapshot its
	// own identity: bytes mixed into the kernel's random pool before it
	// reseeds, the wall clock to set, and its network interface's address.
	// Not in the reference, which boots every VM. Empty: left as they are.
	Entropy []byte
	Clock   time.Time
	MAC     string
}

// VolumeConfig is a volume to mount in the guest.
type VolumeConfig struct {
	Mount    string
	Device   string // "vdb", "vdc", … in a VM
	ReadOnly bool
}

// ProgramError is a program's failure to configure or answer: the "error"
// and "traceback" of the reference's replies.
type ProgramError struct {
	Message   string
	Traceback string
}

func (e *ProgramError) Error() string {
	if e.Message == "" {
		return "program error"
	}
	return "program error: " + e.Message
}

// Response is the answer the reference host gives for a failed request:
// 500 with the traceback (or the error) as plain text.
func (e *ProgramError) Response() *compute.Response {
	body := e.Traceback
	if body == "" {
		body = e.Message
	}
	return &compute.Response{
		Status:  500,
		Headers: [][2]string{{"content-type", "text/plain; charset=utf-8"}},
		Body:    []byte(body),
	}
}

func (m *Message) String() string {
	return fmt.Sprintf("%s#%d", m.Kind, m.ID)
}
