package wasmtest

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// CGIModule returns a minimal WASI preview-1 module, assembled by hand,
// that writes a CGI response with body text (or, with loop, spins
// forever). It needs no compiler, so tests can make as many distinct
// programs as they like, and it shows what the backend costs apart from a
// language runtime's start-up (a Go module starts the Go runtime in every
// instance).
func CGIModule(text string, loop bool) []byte { return cgiModule("", text, loop) }

// CGIModuleHeaders is CGIModule answering with the extra header lines
// too ("Name: value", separated by newlines), e.g. the CORS header a
// program called from web pages sends.
func CGIModuleHeaders(headers, text string) []byte { return cgiModule(headers, text, false) }

func cgiModule(headers, text string, loop bool) []byte {
	uleb := func(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
	vec := func(items ...[]byte) []byte {
		b := uleb(nil, uint64(len(items)))
		for _, it := range items {
			b = append(b, it...)
		}
		return b
	}
	name := func(s string) []byte { return append(uleb(nil, uint64(len(s))), s...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	section := func(id byte, payload []byte) []byte { return cat([]byte{id}, uleb(nil, uint64(len(payload))), payload) }

	if headers != "" {
		headers = strings.TrimSuffix(headers, "\n") + "\n"
	}
	payload := []byte("Content-Type: text/plain\nX-Program: test\nVary: Accept\n" + headers + "\n" + text)
	data := binary.LittleEndian.AppendUint32(nil, 16)
	data = binary.LittleEndian.AppendUint32(data, uint32(len(payload)))
	data = append(data, make([]byte, 8)...) // nwritten at 8
	data = append(data, payload...)
	instrs := []byte{0x41, 1, 0x41, 0, 0x41, 1, 0x41, 8, 0x10, 0, 0x1a} // fd_write(1, iov@0, 1, @8); drop
	if loop {
		instrs = []byte{0x03, 0x40, 0x0c, 0x00, 0x0b} // loop br 0 end
	}
	body := cat([]byte{0}, instrs, []byte{0x0b})
	return cat([]byte("\x00asm\x01\x00\x00\x00"),
		section(1, vec([]byte{0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f}, []byte{0x60, 0, 0})),
		section(2, vec(cat(name("wasi_snapshot_preview1"), name("fd_write"), []byte{0, 0}))),
		section(3, vec([]byte{1})),
		section(5, vec([]byte{0, 1})),
		section(7, vec(cat(name("memory"), []byte{2, 0}), cat(name("_start"), []byte{0, 1}))),
		section(10, vec(cat(uleb(nil, uint64(len(body))), body))),
		section(11, vec(cat([]byte{0, 0x41, 0, 0x0b}, uleb(nil, uint64(len(data))), data))),
	)
}
