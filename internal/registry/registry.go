// Package registry is the one idiom for an implementation chosen by name
// (compute backends, store drivers, and later certificate storages and
// chain readers), in the spirit of Caddy's module registry but as small as
// Go allows: implementations register themselves from init, callers look
// them up by the name a setting gives.
package registry

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Registry maps names to implementations of one kind.
type Registry[T any] struct {
	kind string
	mu   sync.RWMutex
	m    map[string]T
}

// New returns an empty registry; kind names what it holds in errors
// ("compute backend", "store driver").
func New[T any](kind string) *Registry[T] {
	return &Registry[T]{kind: kind, m: map[string]T{}}
}

// Register adds v under name. It panics on an empty or duplicate name, as
// init-time registration should.
func (r *Registry[T]) Register(name string, v T) {
	if name == "" {
		panic(fmt.Sprintf("registry: %s registered with an empty name", r.kind))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[name]; dup {
		panic(fmt.Sprintf("registry: %s %q registered twice", r.kind, name))
	}
	r.m[name] = v
}

// Lookup returns the implementation registered under name, or an error
// naming the known names.
func (r *Registry[T]) Lookup(name string) (T, error) {
	r.mu.RLock()
	v, ok := r.m[name]
	r.mu.RUnlock()
	if !ok {
		var zero T
		return zero, fmt.Errorf("unknown %s %q (known: %s)", r.kind, name, strings.Join(r.Names(), ", "))
	}
	return v, nil
}

// Names returns the registered names, sorted.
func (r *Registry[T]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.m))
	for n := range r.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
