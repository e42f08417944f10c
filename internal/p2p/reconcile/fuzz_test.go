package reconcile

import (
	"bytes"
	"testing"
)

// FuzzStep feeds arbitrary messages to a responder and to an initiator: they
// must answer or fail, never panic, and never send more than a frame.
func FuzzStep(f *testing.F) {
	a, b := sets{common: 300, onlyA: 40, onlyB: 40, cids: true}.build(5)
	sa, sb := snapshotOf(a), snapshotOf(b)
	empty := snapshotOf(nil)
	// Seeds: the messages of real sessions.
	for _, st := range [][2]Storage{{sa, sb}, {sb, empty}, {empty, sa}} {
		x, y := NewSession(st[0]), NewSession(st[1])
		out, _ := x.Initiate()
		cur := y
		for out != nil {
			f.Add(out)
			out, _ = cur.Step(out)
			cur = map[*Session]*Session{x: y, y: x}[cur]
		}
	}
	f.Add(append([]byte{Version, 0, 0, modeIDDiff, 1, 46}, append([]byte(cidHash(1)), 2, 0, 0)...))
	f.Fuzz(func(t *testing.T, msg []byte) {
		for _, st := range []Storage{sa, empty} {
			resp := NewSession(st, WithMaxFrame(MinFrame))
			out, err := resp.Step(msg)
			if len(out) > MinFrame {
				t.Fatalf("answer of %d bytes", len(out))
			}
			if err == nil {
				resp.Result()
			}
			init := NewSession(st, WithMaxFrame(MinFrame))
			init.Initiate()
			out, _ = init.Step(msg)
			if len(out) > MinFrame {
				t.Fatalf("answer of %d bytes", len(out))
			}
			init.Result()
		}
		readFrame(bytes.NewReader(msg), nil, MinFrame)
	})
}
