package cli

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/compute/wasm/wasmtest"
	"github.com/goaleph/goaleph/internal/syncbuf"
)

// programUpload is the --json output of program upload.
type programUpload struct {
	ItemHash   string `json:"item_hash"`
	Status     string `json:"status"`
	CodeRef    string `json:"code_ref"`
	RuntimeRef string `json:"runtime_ref"`
	URLs       struct {
		VM   string `json:"vm_url"`
		Host string `json:"host_url"`
	} `json:"urls"`
}

// nodeMessage reads GET /api/v0/messages/{hash} from the node.
func nodeMessage(t *testing.T, api, hash string) (status string, msg struct {
	Type    string          `json:"type"`
	Sender  string          `json:"sender"`
	Content json.RawMessage `json:"content"`
}) {
	t.Helper()
	resp, err := http.Get(api + "/api/v0/messages/" + hash)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status  string `json:"status"`
		Message *struct {
			Type    string          `json:"type"`
			Sender  string          `json:"sender"`
			Content json.RawMessage `json:"content"`
		} `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET message %s: %d %v", hash, resp.StatusCode, err)
	}
	if r.Message != nil {
		msg = *r.Message
	}
	return r.Status, msg
}

type uploadedContent struct {
	Type       string `json:"type"`
	Address    string `json:"address"`
	AllowAmend bool   `json:"allow_amend"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Code struct {
		Encoding   string `json:"encoding"`
		Entrypoint string `json:"entrypoint"`
		Ref        string `json:"ref"`
		Interface  string `json:"interface"`
		UseLatest  bool   `json:"use_latest"`
	} `json:"code"`
	Runtime struct {
		Ref       string `json:"ref"`
		UseLatest bool   `json:"use_latest"`
		Comment   string `json:"comment"`
	} `json:"runtime"`
	Resources struct {
		VCPUs   int   `json:"vcpus"`
		Memory  int64 `json:"memory"`
		Seconds int64 `json:"seconds"`
	} `json:"resources"`
	Environment struct {
		Internet bool `json:"internet"`
	} `json:"environment"`
	Variables map[string]string `json:"variables"`
	On        struct {
		HTTP       bool `json:"http"`
		Persistent bool `json:"persistent"`
	} `json:"on"`
}

func TestProgram(t *testing.T) {
	api := startNode(t)
	e := newEnv(t, api)
	var acc struct{ Address string }
	e.okJSON(&acc, "account", "create")

	// A runtime is any STORE; without one the command says how to get one.
	rtFile := filepath.Join(t.TempDir(), "rootfs.squashfs")
	if err := os.WriteFile(rtFile, []byte("a runtime"), 0o644); err != nil {
		t.Fatal(err)
	}
	var rt writeResult
	e.okJSON(&rt, "file", "upload", rtFile)
	main := filepath.Join(t.TempDir(), "main.py")
	if err := os.WriteFile(main, []byte("app = None\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if l := e.fails("program", "upload", main, "main:app"); !strings.Contains(l, "--runtime") || !strings.Contains(l, "ALEPH_DEFAULT_RUNTIME") {
		t.Errorf("no runtime: %q", l)
	}
	e.fails("program", "upload", main, "main:app", "--runtime", rt.ItemHash, "--env-vars", "NOEQUALS")

	// A file, plain, with every option.
	var up programUpload
	e.okJSON(&up, "program", "upload", main, "main:app", "--runtime", rt.ItemHash, "--memory", "256", "--vcpus", "2",
		"--timeout-seconds", "10", "--internet", "--persistent", "--env-vars", "A=1,B=x=y", "--env-vars", "C=",
		"--name", "hello", "--updatable", "--crn-url", "http://crn.test:4020/", "--domain", "crn.example.org")
	if up.Status != "processed" || up.RuntimeRef != rt.ItemHash {
		t.Fatalf("upload: %+v", up)
	}
	label, err := crn.HostLabel(up.ItemHash)
	if err != nil {
		t.Fatal(err)
	}
	if up.URLs.VM != "http://crn.test:4020/vm/"+up.ItemHash || up.URLs.Host != "https://"+label+".crn.example.org" {
		t.Errorf("urls: %+v", up.URLs)
	}
	status, msg := nodeMessage(t, api, up.ItemHash)
	var pc uploadedContent
	if err := json.Unmarshal(msg.Content, &pc); err != nil {
		t.Fatal(err)
	}
	if status != "processed" || msg.Type != "PROGRAM" || msg.Sender != acc.Address || pc.Type != "vm-function" ||
		pc.Address != acc.Address || !pc.AllowAmend || pc.Metadata.Name != "hello" ||
		pc.Code.Encoding != "plain" || pc.Code.Entrypoint != "main:app" || pc.Code.Ref != up.CodeRef ||
		pc.Code.Interface != "asgi" || !pc.Code.UseLatest || pc.Runtime.Ref != rt.ItemHash || !pc.Runtime.UseLatest ||
		pc.Resources.VCPUs != 2 || pc.Resources.Memory != 256 || pc.Resources.Seconds != 10 ||
		!pc.Environment.Internet || !pc.On.HTTP || !pc.On.Persistent ||
		len(pc.Variables) != 3 || pc.Variables["A"] != "1" || pc.Variables["B"] != "x=y" || pc.Variables["C"] != "" {
		t.Fatalf("PROGRAM %s: %s", status, msg.Content)
	}
	// The code STORE holds the file as is.
	dl := filepath.Join(t.TempDir(), "code")
	var code struct {
		Content struct {
			ItemHash string `json:"item_hash"`
		}
	}
	_, cm := nodeMessage(t, api, up.CodeRef)
	json.Unmarshal(cm.Content, &code.Content)
	e.ok("file", "download", code.Content.ItemHash, "--output-path", dl)
	sameFile(t, main, dl)

	// A directory, zipped, with the defaults and ALEPH_DEFAULT_RUNTIME.
	dir := t.TempDir()
	for name, body := range map[string]string{"app/main.wasm": "module", "app/static/index.html": "<p>hi</p>"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := e.cmd("--json", "program", "upload", dir, "app/main.wasm")
	c.Env = append(c.Env, "ALEPH_DEFAULT_RUNTIME="+rt.ItemHash, "ALEPH_CRN_URL=http://other:1")
	out, err := c.Output()
	if err != nil {
		t.Fatalf("upload dir: %v", err)
	}
	var up2 programUpload
	if err := json.Unmarshal(out, &up2); err != nil || up2.URLs.VM != "http://other:1/vm/"+up2.ItemHash || up2.URLs.Host != "" {
		t.Fatalf("upload dir: %v %s", err, out)
	}
	_, msg = nodeMessage(t, api, up2.ItemHash)
	pc = uploadedContent{}
	json.Unmarshal(msg.Content, &pc)
	if pc.Code.Encoding != "zip" || pc.Code.Interface != "binary" || pc.AllowAmend || pc.Environment.Internet ||
		pc.On.Persistent || pc.Resources.VCPUs != 1 || pc.Resources.Memory != 128 || pc.Resources.Seconds != 30 ||
		pc.Variables != nil || pc.Runtime.Ref != rt.ItemHash {
		t.Fatalf("dir PROGRAM: %s", msg.Content)
	}
	_, cm = nodeMessage(t, api, pc.Code.Ref)
	json.Unmarshal(cm.Content, &code.Content)
	e.ok("file", "download", code.Content.ItemHash, "--output-path", dl)
	zr, err := zip.OpenReader(dl)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	zr.Close()
	if got := strings.Join(names, " "); got != "app/ app/main.wasm app/static/ app/static/index.html" {
		t.Errorf("zip entries: %s", got)
	}

	// The table output.
	out2 := e.ok("program", "upload", main, "main.py", "--runtime", rt.ItemHash)
	if !strings.Contains(out2, "item_hash:") || !strings.Contains(out2, "http://127.0.0.1:4020/vm/") {
		t.Errorf("upload table:\n%s", out2)
	}

	// list: the three programs, newest first.
	if out := e.ok("program", "list"); !strings.Contains(out, "HASH") || !strings.Contains(out, up.ItemHash) ||
		!strings.Contains(out, "hello") || !strings.Contains(out, up2.ItemHash) || !strings.Contains(out, "3 programs") {
		t.Errorf("program list:\n%s", out)
	}
	var list struct {
		Programs []struct {
			ItemHash string `json:"item_hash"`
		} `json:"programs"`
	}
	other := newEnv(t, api)
	other.okJSON(&list, "program", "list", "--address", acc.Address)
	if len(list.Programs) != 3 || list.Programs[2].ItemHash != up.ItemHash {
		t.Errorf("program list --address: %+v", list)
	}

	// update: an amend STORE of the code.
	main2 := filepath.Join(t.TempDir(), "main.py")
	os.WriteFile(main2, []byte("app = 2\n"), 0o644)
	var upd struct {
		ItemHash string `json:"item_hash"`
		CodeRef  string `json:"code_ref"`
	}
	e.okJSON(&upd, "program", "update", up.ItemHash, main2)
	_, am := nodeMessage(t, api, upd.ItemHash)
	var store struct {
		Ref string `json:"ref"`
	}
	json.Unmarshal(am.Content, &store)
	if am.Type != "STORE" || store.Ref != up.CodeRef || upd.CodeRef != up.CodeRef {
		t.Fatalf("update: %+v %s", upd, am.Content)
	}
	if l := e.fails("program", "update", up.ItemHash, dir); !strings.Contains(l, "plain") {
		t.Errorf("update with another encoding: %q", l)
	}
	if l := e.fails("program", "update", rt.ItemHash, main2); !strings.Contains(l, "not a PROGRAM") {
		t.Errorf("update of a STORE: %q", l)
	}
	other.ok("account", "create")
	if l := other.fails("program", "update", up.ItemHash, main2); !strings.Contains(l, "belongs to") {
		t.Errorf("update by another account: %q", l)
	}

	// delete: the PROGRAM, then with --code also its code STORE.
	e.ok("program", "delete", up2.ItemHash)
	if s, _ := nodeMessage(t, api, up2.ItemHash); s != "forgotten" {
		t.Errorf("after delete: %s", s)
	}
	e.ok("program", "delete", up.ItemHash, "--code")
	for _, h := range []string{up.ItemHash, up.CodeRef} {
		if s, _ := nodeMessage(t, api, h); s != "forgotten" {
			t.Errorf("after delete --code: %s is %s", h, s)
		}
	}
	if out := e.ok("program", "list"); !strings.Contains(out, "1 programs") {
		t.Errorf("list after delete:\n%s", out)
	}
}

// TestProgramWasm deploys the wasmtest module with --wasm and calls it
// through `aleph compute run`, then updates its code.
func TestProgramWasm(t *testing.T) {
	module, err := wasmtest.Build(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	api := startNode(t)
	e := newEnv(t, api)
	e.ok("account", "create")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	crnAddr := ln.Addr().String()
	ln.Close()
	crnURL := "http://" + crnAddr

	var up, up2 programUpload
	e.okJSON(&up, "program", "upload", module, "main.wasm", "--wasm", "--memory", "64", "--timeout-seconds", "5",
		"--env-vars", "GREETING=hi", "--crn-url", crnURL)
	e.okJSON(&up2, "program", "upload", module, "main.wasm", "--wasm", "--crn-url", crnURL)
	if up.RuntimeRef == "" || up2.RuntimeRef != up.RuntimeRef {
		t.Fatalf("runtime refs %q %q: the marker is not reused", up.RuntimeRef, up2.RuntimeRef)
	}
	var stores struct {
		Messages []json.RawMessage `json:"messages"`
	}
	e.okJSON(&stores, "message", "find", "--message-types", "STORE")
	if len(stores.Messages) != 3 { // the marker once, the code twice
		t.Errorf("%d STORE messages, want 3", len(stores.Messages))
	}

	runArgs := []string{"compute", "run", "--core-url", api, "--listen", crnAddr, "--cache-dir", t.TempDir(), "--log-level", "error"}
	if strings.Contains(e.ok("compute", "run", "--help"), "--no-sandbox") {
		runArgs = append(runArgs, "--no-sandbox") // this test needs only the wasm backend
	}
	run := e.cmd(runArgs...)
	var runErr bytes.Buffer
	run.Stderr = &runErr
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		run.Process.Signal(os.Interrupt)
		run.Wait()
	})

	get := func() (int, string, string) {
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, err := http.Get(up.URLs.VM + "/hello?x=1")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return resp.StatusCode, string(b), resp.Header.Get("Aleph-Program-Code-Ref")
			}
			if time.Now().After(deadline) {
				t.Fatalf("compute node: %v; stderr %s", err, runErr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	code, body, codeRef := get()
	var echo struct {
		Method, Path, Query string
		Env                 map[string]string
	}
	if err := json.Unmarshal([]byte(body), &echo); code != 200 || err != nil || echo.Path != "/hello" ||
		echo.Query != "x=1" || echo.Env["GREETING"] != "hi" {
		t.Fatalf("GET %s: %d %s", up.URLs.VM, code, body)
	}
	if codeRef != up.CodeRef {
		t.Errorf("code ref %s, want %s", codeRef, up.CodeRef)
	}

	// An update is an amend of the code: the node follows it.
	var upd struct {
		ItemHash string `json:"item_hash"`
	}
	e.okJSON(&upd, "program", "update", up.ItemHash, module)
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _, codeRef = get()
		if code == 200 && codeRef == upd.ItemHash {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the update: %d, code ref %s, want %s", code, codeRef, upd.ItemHash)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Owner operations, signed by the account: logs, reboot, stop.
	resp, err := http.Get(up.URLs.VM + "/log?n=2")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /log: %v %v", resp, err)
	}
	resp.Body.Close()
	if out := e.ok("program", "logs", up.ItemHash, "--crn-url", crnURL); !strings.Contains(out, "stderr line 0\n") ||
		!strings.Contains(out, "stderr line 1\n") {
		t.Errorf("program logs: %q", out)
	}
	var logs []struct {
		Message string `json:"MESSAGE"`
		File    string `json:"file"`
	}
	e.okJSON(&logs, "program", "logs", up.ItemHash, "--crn-url", crnURL)
	if len(logs) < 2 || logs[len(logs)-1].Message != "line 1" || logs[len(logs)-1].File != "stderr" {
		t.Errorf("program logs --json: %+v", logs)
	}
	if out := e.ok("program", "reboot", up.ItemHash, "--crn-url", crnURL); !strings.Contains(out, "Rebooted VM "+up.ItemHash) {
		t.Errorf("program reboot: %q", out)
	}
	if out := e.ok("program", "logs", up.ItemHash, "--crn-url", crnURL); out != "" {
		t.Errorf("logs after reboot: %q", out)
	}
	// Following the logs: the lines so far, new ones, the end at the stop.
	if resp, err = http.Get(up.URLs.VM + "/log?n=1"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /log: %v %v", resp, err)
	}
	resp.Body.Close()
	follow := e.cmd("program", "logs", "-f", up.ItemHash, "--crn-url", crnURL)
	var followOut syncbuf.Buffer
	follow.Stdout = &followOut
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	followed := make(chan error, 1)
	go func() { followed <- follow.Wait() }()
	t.Cleanup(func() { follow.Process.Kill() })
	waitOutput := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(followOut.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("program logs -f: no %q in %q", want, followOut.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitOutput("stderr line 0\n")
	if resp, err = http.Get(up.URLs.VM + "/log?n=2"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /log: %v %v", resp, err)
	}
	resp.Body.Close()
	waitOutput("stderr line 0\nstderr line 0\nstderr line 1\n")
	if out := e.ok("program", "stop", up.ItemHash, "--crn-url", crnURL); !strings.Contains(out, "Stopped VM "+up.ItemHash) {
		t.Errorf("program stop: %q", out)
	}
	select {
	case err := <-followed:
		if err != nil {
			t.Errorf("program logs -f: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("program logs -f did not end at the stop: %q", followOut.String())
	}
	if out := followOut.String(); !strings.HasSuffix(out, "system execution stopped\n") {
		t.Errorf("program logs -f: %q", out)
	}
	if out := e.fails("program", "stop", up.ItemHash, "--crn-url", crnURL); !strings.Contains(out, "404") ||
		!strings.Contains(out, "No execution") {
		t.Errorf("second stop: %q", out)
	}
	if out := e.fails("program", "logs", up.ItemHash, "--crn-url", crnURL, "--crn-domain", "elsewhere.test"); !strings.Contains(out, "401") {
		t.Errorf("logs signed for another domain: %q", out)
	}
}
