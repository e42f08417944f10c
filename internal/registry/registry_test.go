package registry

import (
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	r := New[int]("widget")
	r.Register("b", 2)
	r.Register("a", 1)
	if v, err := r.Lookup("a"); err != nil || v != 1 {
		t.Fatalf("Lookup(a) = %v, %v", v, err)
	}
	if got := strings.Join(r.Names(), ","); got != "a,b" {
		t.Fatalf("Names = %s", got)
	}
	_, err := r.Lookup("c")
	if err == nil || err.Error() != `unknown widget "c" (known: a, b)` {
		t.Fatalf("Lookup(c) error = %v", err)
	}
}

func TestRegisterPanics(t *testing.T) {
	r := New[int]("widget")
	r.Register("a", 1)
	for _, name := range []string{"", "a"} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", name)
				}
			}()
			r.Register(name, 3)
		}()
	}
	if v, _ := r.Lookup("a"); v != 1 {
		t.Errorf("a duplicate Register replaced the value: %d", v)
	}
}
