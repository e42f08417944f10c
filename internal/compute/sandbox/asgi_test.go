package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/compute/sandbox/sandboxtest"
)

// TestASGI runs a Python ASGI app. The real runtime image (Debian 12 with
// python3) is not built yet: the root here is the minimal one with the
// host's /usr as a read-only volume, which is what python3 needs on a
// merged-/usr Debian.
func TestASGI(t *testing.T) {
	b, spec := setup(t)
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is missing")
	}
	root := filepath.Join(t.TempDir(), "root")
	if err := sandboxtest.Runtime(root); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		if err := os.Symlink("usr/"+l, filepath.Join(root, l)); err != nil {
			t.Fatal(err)
		}
	}
	code := t.TempDir()
	app := `
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    import os, socket
    await send({"type": "http.response.body",
                "body": ("hello from %s %s" % (socket.gethostname(), os.environ.get("GREETING"))).encode()})
`
	if err := os.WriteFile(filepath.Join(code, "main.py"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	spec.Runtime = root
	spec.Code = code
	spec.Interface = compute.ASGI
	spec.Entrypoint = "main:app"
	spec.Volumes = []compute.Volume{{Mount: "/usr", Source: "/usr", ReadOnly: true}}
	in := run(t, b, spec)
	if got := get(t, in, "/", ""); got != "hello from "+hostname(spec.ProgramHash)+" hello" {
		t.Errorf("answer %q", got)
	}
	if got := get(t, in, "/", ""); strings.Contains(got, "error") {
		t.Errorf("second answer %q", got)
	}
}
