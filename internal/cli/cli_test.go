package cli

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/node/nodetest"
)

// alephBin is the aleph binary built once by TestMain.
var alephBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aleph-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	alephBin = filepath.Join(dir, "aleph")
	out, err := exec.Command("go", "build", "-o", alephBin, "github.com/goaleph/goaleph/cmd/aleph").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build aleph: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startNode runs an in-process core node until the test ends and returns
// its API URL.
func startNode(t *testing.T) string { return startNodeWith(t, node.Config{}) }

// startNodeWith is startNode with a configuration.
func startNodeWith(t *testing.T, cfg node.Config) string {
	t.Helper()
	_, addr := nodetest.Start(t, cfg)
	return "http://" + addr
}

// env is the environment of one user of the binary.
type env struct {
	t      *testing.T
	api    string
	config string
}

func newEnv(t *testing.T, api string) *env {
	return &env{t: t, api: api, config: t.TempDir()}
}

func (e *env) cmd(args ...string) *exec.Cmd {
	c := exec.Command(alephBin, args...)
	c.Env = append(os.Environ(), "ALEPH_CONFIG_HOME="+e.config, "ALEPH_API_URL="+e.api, "ALEPH_CHANNEL=TEST")
	return c
}

// run runs the binary and returns stdout, stderr and the exit code.
func (e *env) run(stdin string, args ...string) (string, string, int) {
	e.t.Helper()
	c := e.cmd(args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// ok runs the binary and fails the test unless it succeeds.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	out, errs, code := e.run("", args...)
	if code != 0 {
		e.t.Fatalf("aleph %s: exit %d: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

// okJSON runs the binary with --json and decodes its output into v.
func (e *env) okJSON(v any, args ...string) {
	e.t.Helper()
	out := e.ok(append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		e.t.Fatalf("aleph %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// fails runs the binary, expects a failure with exactly one line on stderr
// and returns that line.
func (e *env) fails(args ...string) string {
	e.t.Helper()
	out, errs, code := e.run("", args...)
	if code == 0 {
		e.t.Fatalf("aleph %s succeeded, want a failure; stdout %q", strings.Join(args, " "), out)
	}
	if strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "aleph: ") {
		e.t.Fatalf("aleph %s: stderr is not one \"aleph: \" line: %q", strings.Join(args, " "), errs)
	}
	return strings.TrimSpace(errs)
}

type writeResult struct {
	ItemHash string `json:"item_hash"`
	Status   string `json:"status"`
	FileHash string `json:"file_hash"`
	Sender   string `json:"sender"`
}

func TestAccounts(t *testing.T) {
	e := newEnv(t, "http://127.0.0.1:1")
	var eth, sol struct {
		Name, Chain, Address, Path string
		Active                     bool
	}
	e.okJSON(&eth, "account", "create")
	if eth.Chain != "ETH" || !strings.HasPrefix(eth.Address, "0x") || !eth.Active {
		t.Fatalf("eth account: %+v", eth)
	}
	e.okJSON(&sol, "account", "create", "--chain", "SOL", "--name", "s1")
	if sol.Chain != "SOL" || sol.Active || sol.Name != "s1" {
		t.Fatalf("sol account: %+v", sol)
	}
	if got := strings.TrimSpace(e.ok("account", "address")); got != eth.Address {
		t.Fatalf("address = %q, want the active %q", got, eth.Address)
	}
	if got := strings.TrimSpace(e.ok("account", "address", "s1")); got != sol.Address {
		t.Fatalf("address s1 = %q, want %q", got, sol.Address)
	}
	for _, p := range []string{eth.Path, sol.Path, filepath.Join(e.config, "config.json")} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, st.Mode().Perm())
		}
	}
	e.fails("account", "create", "--chain", "SOL", "--name", "s1") // exists

	// Importing the stored keys gives the same addresses.
	for _, a := range []struct{ chain, path, addr string }{{"ETH", eth.Path, eth.Address}, {"SOL", sol.Path, sol.Address}} {
		key, err := os.ReadFile(a.path)
		if err != nil {
			t.Fatal(err)
		}
		other := newEnv(t, e.api)
		var got struct{ Address string }
		other.okJSON(&got, "account", "create", "--chain", a.chain, "--private-key", strings.TrimSpace(string(key)))
		if got.Address != a.addr {
			t.Errorf("imported %s key: address %s, want %s", a.chain, got.Address, a.addr)
		}
	}

	// A mnemonic imports the account ethers derives from it (Hardhat's
	// well-known development accounts #0 and #1).
	const mnemonic = "test test test test test test test test test test test junk"
	for _, c := range []struct{ path, addr string }{
		{"", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"},
		{"m/44'/60'/0'/0/1", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"},
	} {
		other := newEnv(t, e.api)
		args := []string{"account", "import", "--mnemonic", mnemonic}
		if c.path != "" {
			args = append(args, "--derivation-path", c.path)
		}
		var got struct{ Address string }
		other.okJSON(&got, args...)
		if got.Address != c.addr {
			t.Errorf("mnemonic at %q: address %s, want %s", c.path, got.Address, c.addr)
		}
		other.fails("account", "create", "--name", "x", "--mnemonic", "test test junk")
		other.fails("account", "import", "--name", "z") // nothing to import
		other.fails("account", "create", "--name", "y", "--chain", "SOL", "--mnemonic", mnemonic)
	}

	e.ok("account", "create", "--chain", "SOL", "--name", "s2", "--active")
	var list []struct {
		Name   string
		Active bool
	}
	e.okJSON(&list, "account", "list")
	if len(list) != 3 || list[2].Name != "s2" || !list[2].Active || list[0].Active {
		t.Fatalf("account list: %+v", list)
	}
	if out := e.ok("account", "show"); !strings.Contains(out, "s2") || !strings.Contains(out, "SOL") {
		t.Fatalf("account show: %s", out)
	}
}

func TestPostsAndAggregates(t *testing.T) {
	e := newEnv(t, startNode(t))
	for _, chain := range []string{"ETH", "SOL"} {
		t.Run(chain, func(t *testing.T) {
			e.t = t
			e.ok("account", "create", "--chain", chain, "--name", chain, "--active")
			var post writeResult
			e.okJSON(&post, "post", "create", "--type", "note", "--ref", "r1", "--content", `{"body":"hello"}`)
			if post.Status != "processed" {
				t.Fatalf("post: %+v", post)
			}
			var amend writeResult
			e.okJSON(&amend, "post", "amend", post.ItemHash, "--content", `{"body":"fixed"}`)
			var page struct {
				Posts []struct {
					Hash    string          `json:"hash"`
					Content json.RawMessage `json:"content"`
					Address string          `json:"address"`
				} `json:"posts"`
			}
			e.okJSON(&page, "post", "get", "--hashes", post.ItemHash, "--types", "note", "--channels", "TEST")
			if len(page.Posts) != 1 || compact(t, page.Posts[0].Content) != `{"body":"fixed"}` || page.Posts[0].Address != post.Sender {
				t.Fatalf("post get: %+v", page)
			}
			if out := e.ok("post", "get", "--addresses", post.Sender); !strings.Contains(out, post.ItemHash) || !strings.Contains(out, "fixed") {
				t.Fatalf("post get table: %s", out)
			}

			// Content on stdin.
			out, errs, code := e.run(`{"from":"stdin"}`, "--json", "post", "create", "--type", "stdin")
			if code != 0 {
				t.Fatalf("post from stdin: %s", errs)
			}
			if !strings.Contains(out, `"processed"`) {
				t.Fatalf("post from stdin: %s", out)
			}

			e.ok("aggregate", "create", "profile", `{"name":"alice","age":30}`)
			e.ok("aggregate", "create", "profile", `{"age":31}`)
			var agg map[string]any
			e.okJSON(&agg, "aggregate", "get", "profile")
			if agg["name"] != "alice" || agg["age"] != 31.0 {
				t.Fatalf("aggregate get: %v", agg)
			}
			e.ok("aggregate", "forget", "profile")
			agg = nil
			e.okJSON(&agg, "aggregate", "get", "profile", "--address", post.Sender)
			if v, ok := agg["name"]; !ok || v != nil || agg["age"] != nil {
				t.Fatalf("aggregate after forget: %v", agg)
			}

			var found struct {
				Messages []struct {
					ItemHash string `json:"item_hash"`
					Type     string `json:"type"`
				} `json:"messages"`
				Total int `json:"pagination_total"`
			}
			e.okJSON(&found, "message", "find", "--addresses", post.Sender, "--message-types", "POST", "--pagination", "10")
			if found.Total != 3 || len(found.Messages) != 3 {
				t.Fatalf("message find: %+v", found)
			}
			e.okJSON(&found, "message", "find", "--hashes", post.ItemHash)
			if len(found.Messages) != 1 || found.Messages[0].ItemHash != post.ItemHash {
				t.Fatalf("message find --hashes: %+v", found)
			}

			e.ok("message", "forget", amend.ItemHash, "--reason", "test")
			if got := strings.TrimSpace(e.ok("message", "status", amend.ItemHash)); got != "forgotten" {
				t.Fatalf("status after forget = %q", got)
			}
			if out := e.ok("message", "get", post.ItemHash); !strings.Contains(out, "processed") || !strings.Contains(out, "hello") ||
				!regexp.MustCompile(`confirmed:\s+no\n`).MatchString(out) {
				t.Fatalf("message get: %s", out)
			}
		})
	}
}

// compact returns raw JSON without insignificant space.
func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// writeRandom writes a file of n random bytes.
func writeRandom(t *testing.T, n int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data.bin")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, n); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFiles(t *testing.T) {
	e := newEnv(t, startNode(t))
	e.ok("account", "create")
	src := writeRandom(t, 3<<20+17)

	var up writeResult
	out, errs, code := e.run("", "--json", "file", "upload", src, "--ref", "v1")
	if code != 0 || errs != "" {
		t.Fatalf("upload: exit %d, stderr %q (want no progress off a terminal)", code, errs)
	}
	if err := json.Unmarshal([]byte(out), &up); err != nil || up.FileHash == "" || up.Status != "processed" {
		t.Fatalf("upload: %v %s", err, out)
	}
	dst := filepath.Join(t.TempDir(), "copy.bin")
	e.ok("file", "download", up.FileHash, "--output-path", dst)
	sameFile(t, src, dst)

	e.ok("file", "forget", up.ItemHash)
	if got := strings.TrimSpace(e.ok("message", "status", up.ItemHash)); got != "forgotten" {
		t.Fatalf("STORE status after forget = %q", got)
	}
}

func TestFilePinAndList(t *testing.T) {
	api := startNode(t)
	a, b := newEnv(t, api), newEnv(t, api)
	var accA, accB struct{ Address string }
	a.okJSON(&accA, "account", "create")
	b.okJSON(&accB, "account", "create")
	src := writeRandom(t, 5000)

	var up, pin writeResult
	a.okJSON(&up, "file", "upload", src, "--storage-engine", "ipfs")
	if !strings.HasPrefix(up.FileHash, "Qm") && !strings.HasPrefix(up.FileHash, "baf") || up.Status != "processed" {
		t.Fatalf("ipfs upload: %+v", up)
	}
	b.okJSON(&pin, "file", "pin", up.FileHash, "--ref", "copy")
	if pin.FileHash != up.FileHash || pin.Status != "processed" || pin.Sender != accB.Address {
		t.Fatalf("pin: %+v", pin)
	}

	// The table of the pinning account, and the JSON of both addresses.
	out := b.ok("file", "list")
	if !strings.Contains(out, "FILE HASH") || !strings.Contains(out, up.FileHash) || !strings.Contains(out, pin.ItemHash) ||
		!strings.Contains(out, "1 files, 5000 bytes") {
		t.Fatalf("file list:\n%s", out)
	}
	for _, w := range []struct{ addr, item string }{{accA.Address, up.ItemHash}, {accB.Address, pin.ItemHash}} {
		var list struct {
			Address   string `json:"address"`
			TotalSize int64  `json:"total_size"`
			Files     []struct {
				FileHash string `json:"file_hash"`
				Size     int64  `json:"size"`
				ItemHash string `json:"item_hash"`
			} `json:"files"`
		}
		b.okJSON(&list, "file", "list", "--address", w.addr, "--pagination", "10", "--page", "1")
		if list.Address != w.addr || list.TotalSize != 5000 || len(list.Files) != 1 ||
			list.Files[0].FileHash != up.FileHash || list.Files[0].ItemHash != w.item {
			t.Errorf("file list --address %s: %+v", w.addr, list)
		}
	}
	if out := b.ok("file", "list", "--address", "0xNobody"); !strings.Contains(out, "0 files") {
		t.Errorf("file list of an address without files: %s", out)
	}

	for _, bad := range []string{"QmNotACid", up.ItemHash} {
		_, _, code := b.run("", "file", "pin", bad)
		if code != 1 {
			t.Errorf("pin %s: exit %d, want 1", bad, code)
		}
		if line := b.fails("file", "pin", bad); !strings.Contains(line, "not an IPFS CID") {
			t.Errorf("pin %s: %s", bad, line)
		}
	}
}

func sameFile(t *testing.T, a, b string) {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s and %s differ (%d and %d bytes)", a, b, len(x), len(y))
	}
}

func TestLargeUploadProgress(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MiB transfer in -short mode")
	}
	e := newEnv(t, startNode(t))
	e.ok("account", "create")
	src := writeRandom(t, 50<<20)

	out, errs, code := e.run("", "--json", "file", "upload", src, "--progress")
	if code != 0 {
		t.Fatalf("upload: %s", errs)
	}
	for _, want := range []string{"upload", "100%", "MB/s", "/52 MB"} {
		if !strings.Contains(errs, want) {
			t.Errorf("progress output lacks %q: %q", want, errs)
		}
	}
	var up writeResult
	if err := json.Unmarshal([]byte(out), &up); err != nil {
		t.Fatalf("upload output: %v %s", err, out)
	}
	dst := filepath.Join(t.TempDir(), "copy.bin")
	_, errs, code = e.run("", "file", "download", up.FileHash, "--output-path", dst, "--progress")
	if code != 0 || !strings.Contains(errs, "download") || !strings.Contains(errs, "100%") {
		t.Fatalf("download: exit %d, stderr %q", code, errs)
	}
	sameFile(t, src, dst)

	if _, errs, _ := e.run("", "file", "upload", src, "--no-progress"); errs != "" {
		t.Errorf("--no-progress wrote %q", errs)
	}
}

func TestWatch(t *testing.T) {
	e := newEnv(t, startNode(t))
	e.ok("account", "create")
	c := e.cmd("--json", "message", "watch", "--history", "0", "--channels", "TEST")
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Process.Kill()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// The watcher subscribes asynchronously: post until one arrives.
	posted := map[string]bool{}
	var got string
	for i := 0; i < 20 && got == ""; i++ {
		var p writeResult
		e.okJSON(&p, "post", "create", "--type", "watched", "--content", fmt.Sprintf(`{"i":%d}`, i))
		posted[p.ItemHash] = true
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("watch ended: %s", errb.String())
			}
			got = l
		case <-time.After(500 * time.Millisecond):
		}
	}
	var m struct {
		ItemHash string `json:"item_hash"`
		Type     string `json:"type"`
	}
	if err := json.Unmarshal([]byte(got), &m); err != nil || !posted[m.ItemHash] || m.Type != "POST" {
		t.Fatalf("watch line %q: %v", got, err)
	}
	if err := c.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for range lines {
	}
	if err := c.Wait(); err != nil {
		t.Fatalf("watch after Ctrl-C: %v, stderr %q", err, errb.String())
	}
}

func TestErrors(t *testing.T) {
	api := startNode(t)
	e := newEnv(t, api)

	if l := e.fails("post", "create", "--content", `{"a":1}`); l != "aleph: "+errNoAccount.Error() {
		t.Errorf("no account: %q", l)
	}
	if l := e.fails("aggregate", "get", "profile"); !strings.Contains(l, "no account") {
		t.Errorf("no account (aggregate get): %q", l)
	}
	e.ok("account", "create")
	var p writeResult
	e.okJSON(&p, "post", "create", "--content", `{"a":1}`)
	// The node's reason and code: another account may not forget it.
	e.ok("account", "create", "--name", "other")
	if l := e.fails("--account", "other", "message", "forget", p.ItemHash); !strings.Contains(l, "error code 2, PERMISSION_DENIED") || !strings.Contains(l, "not authorized") {
		t.Errorf("rejected write: %q", l)
	}
	if l := e.fails("--account", "nobody", "post", "create", "--content", "{}"); !strings.Contains(l, `"nobody"`) {
		t.Errorf("unknown account: %q", l)
	}
	if l := e.fails("message", "get", "not-a-hash"); !strings.Contains(l, "not-a-hash") || !strings.Contains(l, "not an item hash") {
		t.Errorf("bad hash: %q", l)
	}
	e.fails("post", "amend", "zz", "--content", "{}")
	e.fails("file", "download", "1234")
	if l := e.fails("post", "create", "--content", `{bad`); !strings.Contains(l, "JSON") {
		t.Errorf("bad JSON: %q", l)
	}
	unknown := strings.Repeat("ab", 32)
	if l := e.fails("message", "get", unknown); !strings.Contains(l, "not found") {
		t.Errorf("unknown hash: %q", l)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	if l := e.fails("--api-url", dead, "post", "get"); !strings.Contains(l, dead) || !strings.Contains(l, "connection refused") {
		t.Errorf("dead node: %q", l)
	}
	deadEnv := &env{t: t, api: dead, config: e.config}
	if l := deadEnv.fails("post", "create", "--content", "{}"); !strings.Contains(l, dead) {
		t.Errorf("dead node (env): %q", l)
	}
	// --api-url wins over ALEPH_API_URL.
	deadEnv.ok("--api-url", api, "post", "get")
}

// TestHelp checks that every command documents an example, and that the
// completion scripts are generated.
func TestHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() != "help" && !c.Hidden && c.Example == "" {
			t.Errorf("%q has no Example", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRoot(&globals{out: io.Discard}))

	e := newEnv(t, "http://127.0.0.1:1")
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if out := e.ok("completion", sh); !strings.Contains(out, "aleph") {
			t.Errorf("completion %s: %.100q", sh, out)
		}
	}
	if out := e.ok("file", "upload", "--help"); !strings.Contains(out, "Examples:") || !strings.Contains(out, "--storage-engine") {
		t.Errorf("file upload --help: %s", out)
	}
}

func TestConfirmationsText(t *testing.T) {
	for raw, want := range map[string]string{
		`{"confirmed":false,"confirmations":[]}`: "no",
		`{"item_hash":"x"}`:                      "no",
		`{"confirmed":true,"confirmations":[{"chain":"ETH","hash":"0xab","height":15}]}`:                         "yes, ETH transaction 0xab at height 15",
		`{"confirmations":[{"chain":"ETH","hash":"0xab","height":15},{"chain":"BSC","hash":"0xcd","height":7}]}`: "yes, ETH transaction 0xab at height 15; BSC transaction 0xcd at height 7",
	} {
		if got := confirmationsText(json.RawMessage(raw)); got != want {
			t.Errorf("confirmationsText(%s) = %q, want %q", raw, got, want)
		}
	}
}
