package vmjs_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/goaleph/goaleph/internal/compute/crn/crntest"
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
	"github.com/goaleph/goaleph/internal/devnet/devnettest"
	"github.com/goaleph/goaleph/internal/vmjs"
)

const greeting = "hello from the program"

// page is a front-end, as one hosted on IPFS would be: it loads the
// module from the core node and calls the program from two loops,
// counting the answers in window.stats.
const page = `<!doctype html>
<title>aleph-vm.js test</title>
<script type="module">
import { Resolver } from "CORE/aleph-vm.js";
const stats = { ok: 0, failed: 0, firstError: "", nodes: 0 };
window.stats = stats;
const aleph = new Resolver({ ttl: 200, ejectFor: 60000 });
async function loop() {
  for (;;) {
    try {
      const res = await aleph.fetch("HASH", "/");
      const text = await res.text();
      if (res.status === 200 && text === "GREETING") stats.ok++;
      else { stats.failed++; stats.firstError ||= res.status + " " + text; }
    } catch (e) {
      stats.failed++;
      stats.firstError ||= String(e);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}
(async () => {
  for (;;) {
    try {
      stats.nodes = (await aleph.nodes("HASH")).length;
    } catch (e) {
      stats.firstError ||= String(e);
    }
    if (stats.nodes === 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  loop();
  loop();
})();
</script>`

type stats struct {
	OK         int64  `json:"ok"`
	Failed     int64  `json:"failed"`
	FirstError string `json:"firstError"`
	Nodes      int    `json:"nodes"`
}

// chromium is the path of Debian's chromium (scripts/install-deps.sh
// installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run scripts/install-deps.sh")
	return ""
}

// TestBrowserFailover: in headless Chromium, a page on another origin
// imports aleph-vm.js from a real core node and calls a program that two
// real compute nodes run; when one of them is killed, the page's calls
// keep succeeding (none fails) and the dead node gets at most one
// connection per loop before the module ejects it.
func TestBrowserFailover(t *testing.T) {
	bin := chromium(t)
	core := devnettest.Core(t).APIURL()
	hash := crntest.Program(t, core, wasmtest.CGIModuleHeaders("Access-Control-Allow-Origin: *", greeting))
	a, b := crntest.Start(t, core), crntest.Start(t, core)
	for _, n := range []*crntest.Node{a, b} {
		if code, body := n.Call(t, hash, "/"); code != 200 || body != greeting {
			t.Fatalf("direct call to %s: %d %q", n.URL, code, body)
		}
	}
	html := strings.NewReplacer("CORE", core, "HASH", hash, "GREETING", greeting).Replace(page)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, html)
	}))
	t.Cleanup(front.Close)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	var logs []string
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(func(f string, args ...any) { logs = append(logs, fmt.Sprintf(f, args...)) }))
	t.Cleanup(cancel)
	tctx, tcancel := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(tcancel)
	if _, err := chromedp.Run(tctx, chromedp.Navigate(front.URL)); err != nil {
		t.Fatalf("chromium: %v (%s)", err, strings.Join(logs, "; "))
	}
	read := func() stats {
		t.Helper()
		s, err := chromedp.Run(tctx, chromedp.Evaluate[stats](`window.stats || {}`))
		if err != nil {
			t.Fatalf("reading the page's counts: %v", err)
		}
		return s
	}
	waitOK := func(n int64) stats {
		t.Helper()
		want := read().OK + n
		deadline := time.Now().Add(2 * time.Minute)
		for {
			s := read()
			if s.OK >= want {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page made %d calls, want %d: %+v", s.OK, want, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitOK(50)
	if a.Conns() == 0 || b.Conns() == 0 {
		t.Errorf("connections before the kill: %d and %d, want both nodes used", a.Conns(), b.Conns())
	}
	a.Kill()
	s := waitOK(200)
	t.Logf("the page: %d calls served, %d failed; %d connections to the killed node after the kill", s.OK, s.Failed, a.ConnsAfterKill())
	if s.Failed != 0 {
		t.Errorf("%d calls failed in the page, want 0 (first: %s)", s.Failed, s.FirstError)
	}
	// Chromium may retry a reset connection once itself.
	if n := a.ConnsAfterKill(); n > 4 {
		t.Errorf("%d connections to the killed node after the kill, want at most two per loop", n)
	}
}

// TestModule: the module is served with its JavaScript type to any
// origin, with the default core nodes given.
func TestModule(t *testing.T) {
	srv := httptest.NewServer(vmjs.Handler([]string{"http://core.example:4024"}))
	t.Cleanup(srv.Close)
	res, err := http.Get(srv.URL + vmjs.Path)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		res.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("module: %d %v", res.StatusCode, res.Header)
	}
	if !strings.Contains(string(body), `const defaultCoreURLs = ["http://core.example:4024"];`) ||
		!strings.Contains(string(body), "export class Resolver") {
		t.Errorf("module source: %.300s", body)
	}
	if src := vmjs.Source(nil); !strings.Contains(src, "const defaultCoreURLs = [];") {
		t.Error("without core nodes the module does not default to its own origin")
	}
}
