package wasm

import (
	"bytes"
	"time"

	"github.com/goaleph/goaleph/internal/compute"
)

// maxLineBytes splits longer lines, so that one line cannot hold the
// ring's memory hostage.
const maxLineBytes = 4096

// stderrWriter is one call's standard error: it cuts lines into the ring
// and keeps the last bytes for the call's error message. Calls write
// their own stderrWriter, from one goroutine (the module's).
type stderrWriter struct {
	ring    *compute.LogRing
	partial []byte
	head    []byte // first headBytes written
	tail    []byte // last tailBytes written
	total   int
}

// A call's error quotes the start of its stderr (where Go and Rust say
// why they die) and its end.
const (
	headBytes = 512
	tailBytes = 512
)

func (w *stderrWriter) Write(p []byte) (int, error) {
	if n := min(headBytes-len(w.head), len(p)); n > 0 {
		w.head = append(w.head, p[:n]...)
	}
	w.total += len(p)
	w.tail = append(w.tail, p...)
	if len(w.tail) > 2*tailBytes {
		w.tail = append(w.tail[:0], w.tail[len(w.tail)-tailBytes:]...)
	}
	rest := p
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			w.partial = append(w.partial, rest...)
			for len(w.partial) >= maxLineBytes {
				w.emit(w.partial[:maxLineBytes])
				w.partial = append(w.partial[:0], w.partial[maxLineBytes:]...)
			}
			break
		}
		w.partial = append(w.partial, rest[:i]...)
		rest = rest[i+1:]
		w.emit(w.partial)
		w.partial = w.partial[:0]
	}
	return len(p), nil
}

func (w *stderrWriter) emit(line []byte) {
	for len(line) > maxLineBytes {
		w.ring.Add(compute.LogLine{Time: time.Now(), Stream: "stderr", Text: string(line[:maxLineBytes])})
		line = line[maxLineBytes:]
	}
	w.ring.Add(compute.LogLine{Time: time.Now(), Stream: "stderr", Text: string(bytes.TrimSuffix(line, []byte("\r")))})
}

// flush ends the call: a last line without a newline still counts.
func (w *stderrWriter) flush() {
	if len(w.partial) > 0 {
		w.emit(w.partial)
		w.partial = nil
	}
}

// lastWords is the start and the end of what the call wrote on stderr,
// for an error.
func (w *stderrWriter) lastWords() string {
	if w.total <= headBytes {
		return string(bytes.TrimSpace(w.head))
	}
	t := w.tail
	if len(t) > tailBytes {
		t = t[len(t)-tailBytes:]
	}
	if w.total <= headBytes+len(t) { // they overlap
		t = t[headBytes+len(t)-w.total:]
		return string(bytes.TrimSpace(append(append([]byte{}, w.head...), t...)))
	}
	return string(bytes.TrimSpace(w.head)) + " … " + string(bytes.TrimSpace(t))
}

// limitedBuffer is a call's standard output, up to max bytes; past that,
// writes fail (the guest sees EIO) and the call fails.
type limitedBuffer struct {
	buf      bytes.Buffer
	max      int
	exceeded bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.buf.Len()+len(p) > b.max {
		b.exceeded = true
		return 0, errTooLarge
	}
	return b.buf.Write(p)
}
