package crn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute/sandbox"
	"github.com/goaleph/goaleph/internal/compute/sandbox/sandboxtest"
)

// The sandbox tests run real programs through the compute node: a devnet
// core node, the Debian 12 Python runtime of runtimes/ published as a
// STORE of its squashfs image, the static guest agent and bubblewrap.

var sandboxFixture struct {
	once           sync.Once
	image, agent   string
	prog           []byte // the static test program of sandboxtest
	err, buildFail error  // buildFail: the runtime build failed
}

// sandboxSetup returns a sandbox backend, the path of the runtime image
// and the test program. Without bubblewrap it skips, in CI it fails; a
// runtime that cannot be built fails the test in CI and when not root (the
// build needs root once; it is cached after).
func sandboxSetup(t testing.TB) (*sandbox.Backend, string, []byte) {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("bwrap is missing (install bubblewrap: scripts/install-deps.sh)")
		}
		t.Skip("bwrap is missing (install bubblewrap)")
	}
	f := &sandboxFixture
	f.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if f.agent, f.err = sandboxtest.Agent(ctx); f.err != nil {
			return
		}
		var prog string
		if prog, f.err = sandboxtest.Program(ctx); f.err != nil {
			return
		}
		if f.prog, f.err = os.ReadFile(prog); f.err != nil {
			return
		}
		var stdout, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, filepath.Join("..", "..", "..", "runtimes", "debian-12-python", "build.sh"))
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			f.buildFail = fmt.Errorf("runtimes/debian-12-python/build.sh: %v\n%s", err, stderr.Bytes())
			return
		}
		f.image = filepath.Join(strings.TrimSpace(stdout.String()), "rootfs.squashfs")
	})
	if f.err != nil {
		t.Fatal(f.err)
	}
	if f.buildFail != nil {
		switch {
		case os.Getenv("CI") != "":
			t.Fatalf("cannot build the Debian runtime: %v", f.buildFail)
		case os.Geteuid() != 0:
			t.Fatalf("the Debian runtime is not cached and building it needs root: run `sudo runtimes/debian-12-python/build.sh` once (%v)", f.buildFail)
		default:
			t.Skipf("cannot build the Debian runtime (Debian mirror unreachable?): %v", f.buildFail)
		}
	}
	b, err := sandbox.New(sandbox.Config{Agent: f.agent, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return b, f.image, f.prog
}

// storeFile publishes the file at path as a STORE and returns its hash.
func (k *core) storeFile(t testing.TB, path string) string {
	t.Helper()
	res, err := k.c.StoreFile(t.Context(), k.a, path, client.StoreParams{Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != client.StatusProcessed {
		t.Fatalf("STORE %s", res.Status)
	}
	return res.Message.ItemHash
}

// fastAPIApp is the ASGI program: FastAPI, from the runtime's Debian
// packages.
const fastAPIApp = `import os
from fastapi import FastAPI

app = FastAPI()


@app.get("/")
def index():
    return {"hello": "aleph", "greeting": os.environ.get("GREETING")}


@app.get("/items/{n}")
def item(n: int, q: str = ""):
    return {"n": n, "q": q}
`

// asgiCode returns a zip of the FastAPI app as main.py, with a comment
// making it distinct.
func asgiCode(t testing.TB, comment string) []byte {
	return sandboxtest.Zip(map[string][]byte{"main.py": []byte(fastAPIApp + "# " + comment + "\n")})
}

// TestSandboxPrograms deploys a Python ASGI app (FastAPI, zip) and an
// executable HTTP server (a static Go binary, plain and zip) on the Debian
// runtime and calls them through the compute node.
func TestSandboxPrograms(t *testing.T) {
	sb, image, prog := sandboxSetup(t)
	k := startCore(t)
	rt := k.storeFile(t, image)
	n := startCRN(t, k, crnOpts{sandbox: sb})

	checkHeaders := func(resp *http.Response, prog, code string) {
		t.Helper()
		h := resp.Header
		if h.Get("Aleph-Program-ItemHash") != prog || h.Get("Aleph-Program-Code-Ref") != code ||
			!strings.HasPrefix(h.Get("Server"), "aleph-vm/goaleph-") {
			t.Errorf("headers %v", h)
		}
	}

	// ASGI: a zip whose entrypoint "main:app" makes it ASGI.
	asgiRef := k.store(t, asgiCode(t, "v1"), "")
	asgi := k.program(t, asgiRef, programOpts{encoding: "zip", entrypoint: "main:app", runtime: rt,
		memory: 256, seconds: 30, variables: map[string]string{"GREETING": "hi"}})
	start := time.Now()
	resp, body := n.get(t, "/vm/"+asgi+"/")
	t.Logf("ASGI cold start (runtime download and unpack included): %s", time.Since(start))
	if resp.StatusCode != 200 || body != `{"hello":"aleph","greeting":"hi"}` {
		t.Fatalf("asgi: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("asgi content type %q", ct)
	}
	checkHeaders(resp, asgi, asgiRef)
	resp, body = n.get(t, "/vm/"+asgi+"/items/7?q=x")
	if resp.StatusCode != 200 || body != `{"n":7,"q":"x"}` {
		t.Errorf("asgi item: %d %s", resp.StatusCode, body)
	}

	// Executable, plain: the file is the program, run as the entrypoint.
	plainRef := k.store(t, prog, "")
	plain := k.program(t, plainRef, programOpts{entrypoint: "server", iface: "binary", runtime: rt, seconds: 10})
	start = time.Now()
	resp, body = n.get(t, "/vm/"+plain+"/echo?x=1")
	t.Logf("executable cold start (runtime unpacked): %s", time.Since(start))
	var echo struct {
		Path, Query, Hostname string
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &echo) != nil || echo.Path != "/echo" || echo.Query != "x=1" {
		t.Fatalf("executable: %d %s", resp.StatusCode, body)
	}
	checkHeaders(resp, plain, plainRef)
	// It runs on the Debian root: its os-release is there.
	if resp, body = n.get(t, "/vm/"+plain+"/read?path=/etc/os-release"); !strings.Contains(body, "bookworm") {
		t.Errorf("os-release: %d %q", resp.StatusCode, body)
	}

	// Executable, zip: the entrypoint is a path in the archive.
	zipRef := k.store(t, sandboxtest.ExecZip(prog, "zip"), "")
	zipped := k.program(t, zipRef, programOpts{encoding: "zip", entrypoint: "bin/server", runtime: rt, seconds: 10})
	if resp, body = n.get(t, "/vm/"+zipped+"/env?name=ALEPH_HTTP_ADDR"); resp.StatusCode != 200 {
		t.Errorf("zip executable: %d %s", resp.StatusCode, body)
	}
	checkHeaders(resp, zipped, zipRef)

	// Errors: a runtime that is no image, an unknown interface, a missing
	// entrypoint.
	junk := k.program(t, k.store(t, []byte("not an image"), ""), programOpts{entrypoint: "server", runtime: k.store(t, []byte("junk"), "")})
	resp, body = n.get(t, "/vm/"+junk+"/")
	wantError(t, resp, body, http.StatusUnprocessableEntity, "neither the WASM runtime marker nor a squashfs image")
	badIface := k.program(t, plainRef, programOpts{entrypoint: "server", iface: "wsgi", runtime: rt})
	resp, body = n.get(t, "/vm/"+badIface+"/")
	wantError(t, resp, body, http.StatusUnprocessableEntity, `unknown code.interface "wsgi"`)
	missing := k.program(t, zipRef, programOpts{encoding: "zip", entrypoint: "bin/missing", runtime: rt})
	resp, body = n.get(t, "/vm/"+missing+"/")
	wantError(t, resp, body, http.StatusUnprocessableEntity, `entrypoint "bin/missing": the code has no such executable file`)

	resp, body = n.get(t, "/metrics")
	if !strings.Contains(body, `aleph_crn_prepare_seconds_count{backend="sandbox"} 3`) {
		t.Errorf("metrics: %s", body)
	}
}

// BenchmarkSandbox measures requests through the compute node to sandboxed
// programs on the Debian runtime: cold (a new program each time: message,
// code download, sandbox start, first answer; the runtime is already
// unpacked) and warm (a running program), with p50 and p95. Run with
// -benchtime=20x.
func BenchmarkSandbox(b *testing.B) {
	sb, image, prog := sandboxSetup(b)
	k := startCore(b)
	rt := k.storeFile(b, image)
	n := startCRN(b, k, crnOpts{sandbox: sb, memory: 1 << 20, vcpus: 1 << 10})

	kinds := []struct {
		name string
		code func(i int) (data []byte, o programOpts)
	}{
		{"executable", func(i int) ([]byte, programOpts) {
			return sandboxtest.ExecZip(prog, fmt.Sprint(time.Now().UnixNano(), i)),
				programOpts{encoding: "zip", entrypoint: "bin/server", runtime: rt, seconds: 10}
		}},
		{"asgi", func(i int) ([]byte, programOpts) {
			return asgiCode(b, fmt.Sprint(time.Now().UnixNano(), i)),
				programOpts{encoding: "zip", entrypoint: "main:app", runtime: rt, memory: 256, seconds: 30}
		}},
	}
	path := map[string]string{"executable": "/echo", "asgi": "/"}
	call := func(b *testing.B, hash, p string) time.Duration {
		start := time.Now()
		resp, body := n.get(b, "/vm/"+hash+p)
		d := time.Since(start)
		if resp.StatusCode != 200 {
			b.Fatalf("%d %s", resp.StatusCode, body)
		}
		return d
	}
	// The first program pays for the runtime: download and unpack. How
	// much of that is the download alone:
	res, err := k.c.Message(b.Context(), rt)
	if err != nil {
		b.Fatal(err)
	}
	var sc struct {
		ItemHash string `json:"item_hash"`
	}
	json.Unmarshal(res.Message.Content, &sc)
	start := time.Now()
	size, err := k.c.Download(b.Context(), sc.ItemHash, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("runtime image download alone: %d bytes in %s", size, time.Since(start))
	data, o := kinds[0].code(-1)
	b.Logf("first cold request (runtime download, verification and unpack): %s",
		call(b, k.program(b, k.store(b, data, ""), o), path["executable"]))

	for _, kind := range kinds {
		b.Run(kind.name+"/cold", func(b *testing.B) {
			var ds []time.Duration
			for i := range b.N {
				b.StopTimer()
				data, o := kind.code(i)
				hash := k.program(b, k.store(b, data, ""), o)
				b.StartTimer()
				ds = append(ds, call(b, hash, path[kind.name]))
			}
			reportPercentiles(b, ds)
		})
		b.Run(kind.name+"/warm", func(b *testing.B) {
			data, o := kind.code(-2)
			hash := k.program(b, k.store(b, data, ""), o)
			call(b, hash, path[kind.name])
			b.ResetTimer()
			var ds []time.Duration
			for range b.N {
				ds = append(ds, call(b, hash, path[kind.name]))
			}
			reportPercentiles(b, ds)
		})
	}
}

func reportPercentiles(b *testing.B, ds []time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) float64 {
		return float64(ds[int(q*float64(len(ds)-1)+0.5)].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.95), "p95-ms")
}
