package settings

import (
	"testing"
	"time"
)

func TestFillZero(t *testing.T) {
	type conf struct {
		N    int
		D    time.Duration
		S    string
		Off  bool
		List []string
	}
	def := conf{N: 3, D: time.Second, S: "x", Off: true, List: []string{"a"}}
	c := conf{N: 5, S: ""}
	FillZero(&c, def)
	if c.N != 5 || c.D != time.Second || c.S != "x" || !c.Off || len(c.List) != 1 {
		t.Fatalf("FillZero = %+v", c)
	}
	c = conf{D: -1, List: []string{"b", "c"}}
	FillZero(&c, def)
	if c.D != -1 || len(c.List) != 2 || c.N != 3 {
		t.Fatalf("FillZero kept set fields? %+v", c)
	}
}
