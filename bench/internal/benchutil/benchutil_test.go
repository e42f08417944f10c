package benchutil

import (
	"encoding/json"
	"testing"
)

func TestPostContentKeyOrder(t *testing.T) {
	b, err := json.Marshal(PostContent{Type: "t", Address: "0xA", Content: map[string]int{"n": 1}, Time: 1.5})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"type":"t","address":"0xA","content":{"n":1},"time":1.5}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
}

func TestCPUCounters(t *testing.T) {
	busy, err := MachineBusy()
	if err != nil {
		t.Skipf("no /proc/stat: %v", err)
	}
	if busy <= 0 {
		t.Fatalf("machine busy %v, want > 0", busy)
	}
	x := 0
	for i := range 5_000_000 {
		x += i
	}
	_ = x
	if c := OwnCPU(); c <= 0 {
		t.Fatalf("own CPU %v, want > 0", c)
	}
}
