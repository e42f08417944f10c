package guest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
)

func sampleMessages() []*Message {
	return []*Message{
		{Kind: KindHello, Version: Version},
		{ID: 1, Kind: KindConfig, Config: &Config{
			Interface: compute.Executable, VMHash: "ab12", Encoding: "plain", Entrypoint: "run.sh",
			Code: []byte("#!/bin/sh\n"), IP: "172.16.4.2", Route: "172.16.4.1",
			DNSServers: []string{"9.9.9.9"}, Volumes: []VolumeConfig{{Mount: "/data", Device: "vdc", ReadOnly: true}},
			Variables: map[string]string{"A": "1", "B": ""}, IPv6: "fc00::2/124", IPv6Gateway: "fc00::1",
			AuthorizedKeys: []string{"ssh-ed25519 AAAA"}, Launcher: []string{"python3", "-m", "launcher"},
		}},
		{ID: 4, Kind: KindConfig, Config: &Config{
			Interface: compute.Executable, Entrypoint: "server", Entropy: []byte{1, 2, 3},
			Clock: time.Unix(0, 1765000000123456789), MAC: "52:54:00:12:34:56",
		}},
		{ID: 1, Kind: KindConfigResult, Success: true},
		{ID: 1, Kind: KindConfigResult, Error: "boom", Traceback: "line 1"},
		{ID: 2, Kind: KindRequest, Scope: &compute.Scope{
			Type: "http", Method: "POST", Path: "/a b", QueryString: "x=1&y=%20",
			Headers: [][2]string{{"host", "x"}, {"x-bin", "\x00\xff"}}, Body: []byte{0, 1, 2},
		}},
		{ID: 3, Kind: KindRequest, Scope: &compute.Scope{Type: "aleph.message", Body: []byte(`{"a":1}`)}},
		{ID: 2, Kind: KindResponse, Response: &compute.Response{
			Status: 201, Headers: [][2]string{{"content-type", "text/plain"}}, Body: []byte("ok"),
		}},
		{ID: 2, Kind: KindResponse, Error: "ValueError", Traceback: "tb"},
		{ID: 2, Kind: KindCancel},
		{Kind: KindLog, Log: &compute.LogLine{Time: time.Unix(0, 1234567890123), Stream: "stderr", Text: "hi"}},
		{ID: 9, Kind: KindHalt},
		{ID: 9, Kind: KindHaltAck},
	}
}

// normalize makes decoded and original messages comparable: empty and nil
// slices are the same on the wire for some fields.
func normalize(m *Message) *Message {
	c := *m
	if c.Response != nil {
		r := *c.Response
		emptyNil(&r.Headers)
		emptyNil(&r.Body)
		c.Response = &r
	}
	if c.Scope != nil {
		s := *c.Scope
		emptyNil(&s.Headers)
		emptyNil(&s.Body)
		c.Scope = &s
	}
	if c.Log != nil {
		l := *c.Log
		l.Time = l.Time.UTC()
		c.Log = &l
	}
	if c.Config != nil {
		cfg := *c.Config
		emptyNil(&cfg.Volumes)
		emptyNil(&cfg.Code)
		emptyNil(&cfg.InputData)
		c.Config = &cfg
	}
	return &c
}

// emptyNil sets *s to nil when it is empty.
func emptyNil[S ~[]E, E any](s *S) {
	if len(*s) == 0 {
		*s = nil
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		t.Run(m.String(), func(t *testing.T) {
			b, err := AppendFrame(nil, m, MaxFrameSize)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ReadMessage(bytes.NewReader(b), MaxFrameSize)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(normalize(got), normalize(m)) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
			}
		})
	}
}

func TestFrameLimits(t *testing.T) {
	big := &Message{ID: 1, Kind: KindResponse, Response: &compute.Response{Status: 200, Body: make([]byte, 1000)}}
	if _, err := AppendFrame(nil, big, 500); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("encoding over the limit: %v", err)
	}
	b, err := AppendFrame(nil, big, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFrame(bytes.NewReader(b), 500); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("reading over the limit: %v", err)
	}
	// A header announcing the maximum, then nothing: no large allocation,
	// an unexpected EOF.
	h := binary.BigEndian.AppendUint32(nil, MaxFrameSize)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 10; i++ {
		if _, err := ReadFrame(bytes.NewReader(h), MaxFrameSize); err != io.ErrUnexpectedEOF {
			t.Fatalf("truncated frame: %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("10 truncated frames allocated %d bytes", n)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{0, 0, 0, 0}), MaxFrameSize); !errors.Is(err, ErrEmptyFrame) {
		t.Fatalf("empty frame: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader(nil), MaxFrameSize); err != io.EOF {
		t.Fatalf("no frame: %v", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	for name, b := range map[string][]byte{
		"not a map":             {0x93, 1, 2, 3},
		"no kind":               {0x81, 0xa2, 'i', 'd', 0x01},
		"trailing bytes":        append(mustFrame(t, &Message{Kind: KindHalt})[4:], 0xc0),
		"array beyond end":      {0x82, 0xa4, 'k', 'i', 'n', 'd', 0xa1, 'x', 0xa1, 'z', 0xdd, 0x7f, 0xff, 0xff, 0xff},
		"deep nesting":          append([]byte{0x82, 0xa4, 'k', 'i', 'n', 'd', 0xa1, 'x', 0xa1, 'z'}, bytes.Repeat([]byte{0x91}, 100)...),
		"request without scope": {0x81, 0xa4, 'k', 'i', 'n', 'd', 0xa7, 'r', 'e', 'q', 'u', 'e', 's', 't'},
	} {
		if _, err := DecodeMessage(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func mustFrame(t testing.TB, m *Message) []byte {
	b, err := AppendFrame(nil, m, MaxFrameSize)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzReadMessage feeds arbitrary bytes to the frame reader and decoder,
// with a small frame limit: no panic, no unbounded allocation or recursion,
// and whatever decodes re-encodes to a message that decodes the same.
func FuzzReadMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(mustFrame(f, m))
	}
	f.Add([]byte{0, 0, 0, 3, 0x81, 0xa0, 0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		const max = 1 << 16
		r := bytes.NewReader(b)
		for {
			m, err := ReadMessage(r, max)
			if err != nil {
				return
			}
			again, err := AppendFrame(nil, m, 4*max)
			if err != nil {
				if m.Kind == KindConfig || m.Kind == KindRequest || m.Kind == KindLog {
					t.Fatalf("re-encoding %s: %v", m, err)
				}
				continue
			}
			m2, err := ReadMessage(bytes.NewReader(again), 4*max)
			if err != nil {
				t.Fatalf("decoding re-encoded %s: %v", m, err)
			}
			again2, err := AppendFrame(nil, m2, 4*max)
			if err != nil || !bytes.Equal(again, again2) {
				t.Fatalf("re-encoding is not stable for %s", m)
			}
		}
	})
}
