// Package devcrn is the compute node of a devnet: importing it lets
// devnet.Config.Compute run one. It is a package of its own because the
// compute node's tests run on a devnet, so the devnet package cannot
// import the compute node.
//
// The node is the compute node role (crn.NewRole): it runs WASM programs on
// the wasm backend and, when bubblewrap (bwrap) and the guest agent are
// available, programs on squashfs runtimes on the sandbox backend. The
// agent is aleph-guest next to the running executable or on PATH; failing
// that, in a checkout of this module with the Go toolchain (developer
// mode: `go run ./cmd/aleph devnet`), it is built into the compute node's
// directory. Otherwise the node runs WASM programs only, and says so in
// the log. With ComputeConfig.Instances it runs INSTANCE messages on the
// micro VM backend (QEMU) too, their SSH ports on 127.0.0.1, when QEMU and
// a kernel are there (else none, with a warning).
package devcrn

import (
	"context"
	"os"
	"path/filepath"

	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/devnet"
	"github.com/goaleph/goaleph/internal/node"
)

func init() { devnet.RegisterCompute(New) }

// New makes the compute node of a devnet: its cache in c.DataDir/cache,
// reading from c.CoreURL, serving c.Listener, with the wasm backend and,
// when possible, the sandbox backend.
func New(ctx context.Context, c devnet.ComputeConfig) (devnet.ComputeServer, error) {
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return nil, err
	}
	return crn.NewRole(ctx, crn.RoleConfig{
		CRN: crn.Config{CoreURL: c.CoreURL, CacheDir: filepath.Join(c.DataDir, "cache"), Logger: c.Logger,
			KeyFile: filepath.Join(c.DataDir, "crn-key"), // announces its executions (docs/design/0007)
			Version: node.Version, PaymentInterval: c.PaymentInterval, InstanceForwardAddr: "127.0.0.1"},
		Listener:             c.Listener,
		SandboxOptional:      true,
		SandboxAgentBuildDir: c.DataDir,
		Instances:            c.Instances,
		InstancesOptional:    true,
	})
}
