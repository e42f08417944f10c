package crn

import (
	"slices"
	"testing"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/microvm"
	"github.com/goaleph/goaleph/internal/compute/wasm"
)

// TestBackendNamesInstances: /status/config lists the micro VM backend of
// a node that runs it for instances only (the devnet's compute node), as
// well as the programs' backends.
func TestBackendNamesInstances(t *testing.T) {
	vm := &microvm.Backend{}
	c := Config{Backends: map[string]compute.Backend{wasm.Name: nil}, Instances: vm}
	if got, want := backendNames(c), []string{microvm.Name, wasm.Name}; !slices.Equal(got, want) {
		t.Errorf("backendNames = %v, want %v", got, want)
	}
	if _, ok := accelerators(c)[microvm.Name]; !ok {
		t.Errorf("accelerators = %v, want the micro VM backend's", accelerators(c))
	}
	// The micro VM backend of programs and instances is listed once.
	c.Backends[microvm.Name] = vm
	if got, want := backendNames(c), []string{microvm.Name, wasm.Name}; !slices.Equal(got, want) {
		t.Errorf("backendNames = %v, want %v", got, want)
	}
}
