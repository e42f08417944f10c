package compute

import "sync"

// LogRing keeps the last lines a program wrote, for Instance.Logs. It is
// safe for concurrent use.
type LogRing struct {
	mu    sync.Mutex
	lines []LogLine
	next  int // where the next line goes once full
}

// NewLogRing returns a ring keeping the last n lines (at least 1).
func NewLogRing(n int) *LogRing { return &LogRing{lines: make([]LogLine, 0, max(n, 1))} }

// Add keeps l, dropping the oldest line when full.
func (r *LogRing) Add(l LogLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) < cap(r.lines) {
		r.lines = append(r.lines, l)
		return
	}
	r.lines[r.next] = l
	r.next = (r.next + 1) % len(r.lines)
}

// Lines returns the lines kept, oldest first.
func (r *LogRing) Lines() []LogLine {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]LogLine, 0, len(r.lines))
	out = append(out, r.lines[r.next:]...)
	return append(out, r.lines[:r.next]...)
}
