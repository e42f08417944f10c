package guest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/goaleph/goaleph/internal/compute"
)

// The codec is written by hand rather than by reflection: the peer is not
// trusted (a guest runs arbitrary code), and msgpack's generic decoder
// preallocates what a length prefix announces and recurses without bound.
// Here every length is checked against the bytes left in the frame and
// nesting is bounded, so a frame costs at most a small multiple of its size.

// maxDepth bounds the nesting of values skipped as unknown.
const maxDepth = 32

// errMalformed is a frame that is not a message of this protocol.
var errMalformed = errors.New("guest message malformed")

// ASGI message types of a response (http.response.start / .body).
const (
	responseStart = "http.response.start"
	responseBody  = "http.response.body"
)

type field struct {
	key string
	enc func(e *msgpack.Encoder) error
}

func str(s string) func(*msgpack.Encoder) error {
	return func(e *msgpack.Encoder) error { return e.EncodeString(s) }
}

func bin(b []byte) func(*msgpack.Encoder) error {
	return func(e *msgpack.Encoder) error {
		if b == nil {
			return e.EncodeNil()
		}
		return e.EncodeBytes(b)
	}
}

func strs(l []string) func(*msgpack.Encoder) error {
	return func(e *msgpack.Encoder) error {
		if l == nil {
			return e.EncodeNil()
		}
		if err := e.EncodeArrayLen(len(l)); err != nil {
			return err
		}
		for _, s := range l {
			if err := e.EncodeString(s); err != nil {
				return err
			}
		}
		return nil
	}
}

// pairs encodes header lists as ASGI does: [[name, value], …] as bytes.
func pairs(l [][2]string) func(*msgpack.Encoder) error {
	return func(e *msgpack.Encoder) error {
		if err := e.EncodeArrayLen(len(l)); err != nil {
			return err
		}
		for _, p := range l {
			if err := e.EncodeArrayLen(2); err != nil {
				return err
			}
			if err := e.EncodeBytes([]byte(p[0])); err != nil {
				return err
			}
			if err := e.EncodeBytes([]byte(p[1])); err != nil {
				return err
			}
		}
		return nil
	}
}

func mapOf(fs []field) func(*msgpack.Encoder) error {
	return func(e *msgpack.Encoder) error {
		if err := e.EncodeMapLen(len(fs)); err != nil {
			return err
		}
		for _, f := range fs {
			if err := e.EncodeString(f.key); err != nil {
				return err
			}
			if err := f.enc(e); err != nil {
				return err
			}
		}
		return nil
	}
}

func encodeMessage(w io.Writer, m *Message) error {
	e := msgpack.NewEncoder(w)
	fs := []field{
		{"id", func(e *msgpack.Encoder) error { return e.EncodeUint(m.ID) }},
		{"kind", str(string(m.Kind))},
	}
	failure := func() {
		fs = append(fs, field{"error", str(m.Error)}, field{"traceback", str(m.Traceback)})
	}
	switch m.Kind {
	case KindHello:
		fs = append(fs, field{"version", str(m.Version)})
	case KindConfig:
		if m.Config == nil {
			return fmt.Errorf("%w: config without payload", errMalformed)
		}
		fs = append(fs, configFields(m.Config)...)
	case KindConfigResult:
		fs = append(fs, field{"success", func(e *msgpack.Encoder) error { return e.EncodeBool(m.Success) }})
		if !m.Success {
			failure()
		}
	case KindRequest:
		if m.Scope == nil {
			return fmt.Errorf("%w: request without scope", errMalformed)
		}
		fs = append(fs, field{"scope", scopeMap(m.Scope)})
	case KindResponse:
		if r := m.Response; r != nil {
			fs = append(fs,
				field{"headers", mapOf([]field{
					{"type", str(responseStart)},
					{"status", func(e *msgpack.Encoder) error { return e.EncodeInt(int64(r.Status)) }},
					{"headers", pairs(r.Headers)},
				})},
				field{"body", mapOf([]field{
					{"type", str(responseBody)},
					{"body", bin(r.Body)},
				})})
		} else {
			failure()
		}
	case KindLog:
		if m.Log == nil {
			return fmt.Errorf("%w: log without line", errMalformed)
		}
		l := m.Log
		fs = append(fs,
			field{"stream", str(l.Stream)},
			field{"text", str(l.Text)},
			field{"time", func(e *msgpack.Encoder) error { return e.EncodeInt(l.Time.UnixNano()) }})
	}
	return mapOf(fs)(e)
}

func configFields(c *Config) []field {
	vols := func(e *msgpack.Encoder) error {
		if err := e.EncodeArrayLen(len(c.Volumes)); err != nil {
			return err
		}
		for _, v := range c.Volumes {
			ro := v.ReadOnly
			if err := mapOf([]field{
				{"mount", str(v.Mount)},
				{"device", str(v.Device)},
				{"read_only", func(e *msgpack.Encoder) error { return e.EncodeBool(ro) }},
			})(e); err != nil {
				return err
			}
		}
		return nil
	}
	vars := func(e *msgpack.Encoder) error {
		if c.Variables == nil {
			return e.EncodeNil()
		}
		keys := make([]string, 0, len(c.Variables))
		for k := range c.Variables {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if err := e.EncodeMapLen(len(keys)); err != nil {
			return err
		}
		for _, k := range keys {
			if err := e.EncodeString(k); err != nil {
				return err
			}
			if err := e.EncodeString(c.Variables[k]); err != nil {
				return err
			}
		}
		return nil
	}
	fs := []field{
		{"input_data", bin(c.InputData)},
		{"interface", str(string(c.Interface))},
		{"vm_hash", str(c.VMHash)},
		{"encoding", str(c.Encoding)},
		{"entrypoint", str(c.Entrypoint)},
		{"code", bin(c.Code)},
		{"ip", str(c.IP)},
		{"route", str(c.Route)},
		{"dns_servers", strs(c.DNSServers)},
		{"volumes", vols},
		{"variables", vars},
		{"ipv6", str(c.IPv6)},
		{"ipv6_gateway", str(c.IPv6Gateway)},
		{"authorized_keys", strs(c.AuthorizedKeys)},
	}
	if len(c.Launcher) > 0 {
		fs = append(fs, field{"launcher", strs(c.Launcher)})
	}
	// A restored micro VM's fresh identity, when the host gives one.
	if len(c.Entropy) > 0 {
		fs = append(fs, field{"entropy", bin(c.Entropy)})
	}
	if !c.Clock.IsZero() {
		fs = append(fs, field{"clock", func(e *msgpack.Encoder) error { return e.EncodeInt(c.Clock.UnixNano()) }})
	}
	if c.MAC != "" {
		fs = append(fs, field{"mac", str(c.MAC)})
	}
	return fs
}

func scopeMap(s *compute.Scope) func(*msgpack.Encoder) error {
	body := bin(s.Body)
	if s.Type == "aleph.message" {
		// The reference passes the message's JSON as a string.
		body = str(string(s.Body))
	}
	return mapOf([]field{
		{"type", str(s.Type)},
		{"path", str(s.Path)},
		{"method", str(s.Method)},
		{"query_string", str(s.QueryString)},
		{"headers", pairs(s.Headers)},
		{"body", body},
	})
}

// decoder reads one frame's content with bounds.
type decoder struct {
	r *bytes.Reader
	d *msgpack.Decoder
}

// DecodeMessage decodes one frame's content. Unknown keys are skipped, so a
// newer peer may add fields.
func DecodeMessage(b []byte) (m *Message, err error) {
	r := bytes.NewReader(b)
	dc := &decoder{r: r, d: msgpack.NewDecoder(r)}
	m, err = dc.message()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the message", errMalformed, r.Len())
	}
	return m, nil
}

// length checks a collection's announced length against the bytes left:
// every element takes at least one byte (per elements, for pairs).
func (dc *decoder) length(n, per int) (int, error) {
	if n < 0 {
		return 0, nil
	}
	if n > dc.r.Len()/per {
		return 0, fmt.Errorf("length %d beyond the frame", n)
	}
	return n, nil
}

func (dc *decoder) mapLen() (int, error) {
	n, err := dc.d.DecodeMapLen()
	if err != nil {
		return 0, err
	}
	return dc.length(n, 2)
}

func (dc *decoder) arrayLen() (int, error) {
	n, err := dc.d.DecodeArrayLen()
	if err != nil {
		return 0, err
	}
	return dc.length(n, 1)
}

// skip skips one value of any kind, nested at most maxDepth deep.
func (dc *decoder) skip(depth int) error {
	if depth > maxDepth {
		return errors.New("nested too deep")
	}
	c, err := dc.d.PeekCode()
	if err != nil {
		return err
	}
	n := 0
	switch {
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		if n, err = dc.arrayLen(); err != nil {
			return err
		}
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		if n, err = dc.mapLen(); err != nil {
			return err
		}
		n *= 2
	default:
		return dc.d.Skip()
	}
	for i := 0; i < n; i++ {
		if err := dc.skip(depth + 1); err != nil {
			return err
		}
	}
	return nil
}

// each decodes a map, calling f for each key; f decodes the value or
// returns false to have it skipped.
func (dc *decoder) each(f func(key string) (bool, error)) error {
	n, err := dc.mapLen()
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		key, err := dc.d.DecodeString()
		if err != nil {
			return err
		}
		ok, err := f(key)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		if !ok {
			if err := dc.skip(1); err != nil {
				return err
			}
		}
	}
	return nil
}

func (dc *decoder) bytes() ([]byte, error) { return dc.d.DecodeBytes() }

func (dc *decoder) strings() ([]string, error) {
	n, err := dc.d.DecodeArrayLen()
	if err != nil || n < 0 {
		return nil, err
	}
	if n, err = dc.length(n, 1); err != nil {
		return nil, err
	}
	l := make([]string, n)
	for i := range l {
		if l[i], err = dc.d.DecodeString(); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (dc *decoder) pairs() ([][2]string, error) {
	n, err := dc.arrayLen()
	if err != nil {
		return nil, err
	}
	if n, err = dc.length(n, 3); err != nil {
		return nil, err
	}
	l := make([][2]string, n)
	for i := range l {
		k, err := dc.d.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		if k != 2 {
			return nil, errors.New("header is not a pair")
		}
		for j := 0; j < 2; j++ {
			if l[i][j], err = dc.d.DecodeString(); err != nil {
				return nil, err
			}
		}
	}
	return l, nil
}

func (dc *decoder) message() (*Message, error) {
	m := &Message{}
	var (
		cfg   Config
		scope *compute.Scope
		resp  compute.Response
		log   compute.LogLine
	)
	err := dc.each(func(key string) (ok bool, err error) {
		d := dc.d
		switch key {
		case "id":
			m.ID, err = d.DecodeUint64()
		case "kind":
			var k string
			k, err = d.DecodeString()
			m.Kind = Kind(k)
		case "version":
			m.Version, err = d.DecodeString()
		case "success":
			m.Success, err = d.DecodeBool()
		case "error":
			m.Error, err = d.DecodeString()
		case "traceback":
			m.Traceback, err = d.DecodeString()
		case "scope":
			scope, err = dc.scope()
		case "headers":
			err = dc.each(func(key string) (ok bool, err error) {
				switch key {
				case "status":
					var s int64
					s, err = d.DecodeInt64()
					if err == nil && (s < 0 || s > 999) {
						err = fmt.Errorf("status %d", s)
					}
					resp.Status = int(s)
				case "headers":
					resp.Headers, err = dc.pairs()
				default:
					return false, nil
				}
				return true, err
			})
		case "body":
			err = dc.each(func(key string) (bool, error) {
				if key != "body" {
					return false, nil
				}
				var err error
				resp.Body, err = dc.bytes()
				return true, err
			})
		case "stream":
			log.Stream, err = d.DecodeString()
		case "text":
			log.Text, err = d.DecodeString()
		case "time":
			var ns int64
			ns, err = d.DecodeInt64()
			log.Time = time.Unix(0, ns)
		default:
			return dc.configField(&cfg, key)
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	switch m.Kind {
	case "":
		return nil, errors.New("no kind")
	case KindConfig:
		m.Config = &cfg
	case KindRequest:
		if scope == nil {
			return nil, errors.New("request without scope")
		}
		m.Scope = scope
	case KindResponse:
		if m.Error == "" && m.Traceback == "" {
			m.Response = &resp
		}
	case KindLog:
		m.Log = &log
	}
	return m, nil
}

func (dc *decoder) configField(c *Config, key string) (ok bool, err error) {
	d := dc.d
	switch key {
	case "input_data":
		c.InputData, err = dc.bytes()
	case "interface":
		var s string
		s, err = d.DecodeString()
		c.Interface = compute.Interface(s)
	case "vm_hash":
		c.VMHash, err = d.DecodeString()
	case "encoding":
		c.Encoding, err = d.DecodeString()
	case "entrypoint":
		c.Entrypoint, err = d.DecodeString()
	case "code":
		c.Code, err = dc.bytes()
	case "ip":
		c.IP, err = d.DecodeString()
	case "route":
		c.Route, err = d.DecodeString()
	case "ipv6":
		c.IPv6, err = d.DecodeString()
	case "ipv6_gateway":
		c.IPv6Gateway, err = d.DecodeString()
	case "dns_servers":
		c.DNSServers, err = dc.strings()
	case "authorized_keys":
		c.AuthorizedKeys, err = dc.strings()
	case "launcher":
		c.Launcher, err = dc.strings()
	case "entropy":
		c.Entropy, err = dc.bytes()
	case "clock":
		var ns int64
		ns, err = d.DecodeInt64()
		c.Clock = time.Unix(0, ns)
	case "mac":
		c.MAC, err = d.DecodeString()
	case "variables":
		var n int
		n, err = d.DecodeMapLen()
		if err != nil || n < 0 {
			return true, err
		}
		if n, err = dc.length(n, 2); err != nil {
			return true, err
		}
		c.Variables = make(map[string]string, n)
		for i := 0; i < n; i++ {
			k, err := d.DecodeString()
			if err != nil {
				return true, err
			}
			if c.Variables[k], err = d.DecodeString(); err != nil {
				return true, err
			}
		}
	case "volumes":
		var n int
		if n, err = dc.arrayLen(); err != nil {
			return true, err
		}
		c.Volumes = make([]VolumeConfig, n)
		for i := range c.Volumes {
			v := &c.Volumes[i]
			if err = dc.each(func(key string) (ok bool, err error) {
				switch key {
				case "mount":
					v.Mount, err = d.DecodeString()
				case "device":
					v.Device, err = d.DecodeString()
				case "read_only":
					v.ReadOnly, err = d.DecodeBool()
				default:
					return false, nil
				}
				return true, err
			}); err != nil {
				return true, err
			}
		}
	default:
		return false, nil
	}
	return true, err
}

func (dc *decoder) scope() (*compute.Scope, error) {
	s := &compute.Scope{}
	err := dc.each(func(key string) (ok bool, err error) {
		d := dc.d
		switch key {
		case "type":
			s.Type, err = d.DecodeString()
		case "path":
			s.Path, err = d.DecodeString()
		case "method":
			s.Method, err = d.DecodeString()
		case "query_string":
			s.QueryString, err = d.DecodeString()
		case "headers":
			s.Headers, err = dc.pairs()
		case "body":
			s.Body, err = dc.bytes()
		default:
			return false, nil
		}
		return true, err
	})
	return s, err
}
