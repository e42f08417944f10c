package compute

import (
	"fmt"
	"slices"
	"testing"
)

func TestLogRing(t *testing.T) {
	r := NewLogRing(3)
	texts := func() []string {
		var out []string
		for _, l := range r.Lines() {
			out = append(out, l.Text)
		}
		return out
	}
	if got := texts(); len(got) != 0 {
		t.Fatalf("empty ring: %q", got)
	}
	for i := range 2 {
		r.Add(LogLine{Text: fmt.Sprint(i)})
	}
	if got := texts(); !slices.Equal(got, []string{"0", "1"}) {
		t.Errorf("two lines: %q", got)
	}
	for i := 2; i < 7; i++ {
		r.Add(LogLine{Text: fmt.Sprint(i)})
	}
	if got := texts(); !slices.Equal(got, []string{"4", "5", "6"}) {
		t.Errorf("after 7 lines in a ring of 3: %q, want the last 3 oldest first", got)
	}
}
