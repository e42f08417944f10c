package compat

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain"
	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/chain/sol"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/node/nodetest"
	"github.com/goaleph/goaleph/message"
)

// crossTimeout bounds each JS script that TestCrossSDK runs.
const crossTimeout = 3 * time.Minute

// crossEnvelope is a signed message envelope in the JSON the cross scripts
// exchange (the official SDK's field names; channel "" for none).
type crossEnvelope struct {
	ItemHash    string  `json:"item_hash"`
	Type        string  `json:"type"`
	Chain       string  `json:"chain"`
	Sender      string  `json:"sender"`
	Signature   string  `json:"signature"`
	ItemType    string  `json:"item_type"`
	ItemContent string  `json:"item_content"`
	Time        float64 `json:"time"`
	Channel     string  `json:"channel"`
}

// crossAccount is what one account wrote, as compat/cross/*.mjs describe it.
type crossAccount struct {
	Kind    string `json:"kind"`
	Chain   string `json:"chain"`
	Address string `json:"address"`
	Channel string `json:"channel"`
	Post    struct {
		Message  crossEnvelope   `json:"message"`
		PostType string          `json:"post_type"`
		Content  json.RawMessage `json:"content"`
	} `json:"post"`
	Amend struct {
		Message crossEnvelope   `json:"message"`
		Content json.RawMessage `json:"content"`
	} `json:"amend"`
	Aggregate struct {
		Key      string          `json:"key"`
		Messages []crossEnvelope `json:"messages"`
		Merged   json.RawMessage `json:"merged"`
	} `json:"aggregate"`
	Store struct {
		Message  crossEnvelope `json:"message"`
		FileHash string        `json:"file_hash"`
		BytesB64 string        `json:"bytes_b64"`
	} `json:"store"`
}

type crossFacts struct {
	Accounts []crossAccount `json:"accounts"`
}

func envelopeOf(m *message.Message) crossEnvelope {
	return crossEnvelope{
		ItemHash: m.ItemHash, Type: string(m.Type), Chain: m.Chain, Sender: m.Sender,
		Signature: m.Signature, ItemType: string(m.ItemType), ItemContent: m.ItemContent,
		Time: m.Time, Channel: m.Channel,
	}
}

// TestCrossSDK checks that the Go client and the official TypeScript SDK
// read each other's writes exactly, with ETH and SOL accounts: Go writes and
// compat/cross/read.mjs reads with the SDK, then compat/cross/write.mjs
// writes with the SDK and Go reads.
func TestCrossSDK(t *testing.T) {
	nodeBin, dir, addr := crossSetup(t, "read.mjs", "write.mjs")
	c := client.New("http://" + addr)

	t.Run("GoWritesTypeScriptReads", func(t *testing.T) {
		ethAcc, err := eth.NewAccount()
		if err != nil {
			t.Fatal(err)
		}
		solAcc, err := sol.NewAccount()
		if err != nil {
			t.Fatal(err)
		}
		var facts crossFacts
		for _, s := range []struct {
			kind string
			acc  message.Signer
		}{{"ETH", ethAcc}, {"SOL", solAcc}} {
			facts.Accounts = append(facts.Accounts, goWrite(t, c, s.kind, s.acc))
		}
		expect, err := json.MarshalIndent(facts, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "expect.json")
		if err := os.WriteFile(path, expect, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("expected facts in %s", path)
		stdout, err := runNode(t, nodeBin, dir, addr, []string{"CROSS_EXPECT=" + path},
			"--test", "--test-reporter=spec", filepath.Join("cross", "read.mjs"))
		logLines(t, bytes.NewReader(stdout))
		if err != nil {
			t.Fatalf("cross/read.mjs failed (%v); see the log above; expected facts:\n%s", err, expect)
		}
	})

	t.Run("TypeScriptWritesGoReads", func(t *testing.T) {
		stdout, err := runNode(t, nodeBin, dir, addr, nil, filepath.Join("cross", "write.mjs"))
		if err != nil {
			logLines(t, bytes.NewReader(stdout))
			t.Fatalf("cross/write.mjs failed (%v); see the log above", err)
		}
		lines := strings.Split(strings.TrimSpace(string(stdout)), "\n")
		var facts crossFacts
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &facts); err != nil {
			logLines(t, bytes.NewReader(stdout))
			t.Fatalf("cannot parse the last line of cross/write.mjs's output: %v", err)
		}
		if len(facts.Accounts) != 2 {
			t.Fatalf("cross/write.mjs reported %d accounts, want 2", len(facts.Accounts))
		}
		for _, acc := range facts.Accounts {
			t.Run(acc.Kind, func(t *testing.T) { goRead(t, c, acc) })
		}
	})
}

// crossSetup skips under -short, checks that the SDKs and Node.js are
// installed, reads the compat/cross scripts the test runs (so that go
// test's cache keys on them), and starts a node. It returns the node
// binary, the compat directory and the node's host:port.
func crossSetup(t *testing.T, scripts ...string) (nodeBin, dir, addr string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the official SDKs against a node (-short given)")
	}
	dir, nodeBin = requireSDK(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "aleph-js")); err != nil {
		t.Fatalf("aleph-js is not installed in %s/node_modules (%v): run `make test` (or `npm ci --prefix compat`)", dir, err)
	}
	for _, f := range scripts {
		if _, err := os.ReadFile(filepath.Join(dir, "cross", f)); err != nil {
			t.Fatal(err)
		}
	}
	return nodeBin, dir, startCrossNode(t)
}

// goWrite writes with the Go client, signed by acc, what cross/read.mjs
// checks: a post and its amend, two aggregate updates, a stored file.
func goWrite(t *testing.T, c *client.Client, kind string, acc message.Signer) crossAccount {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out crossAccount
	out.Kind, out.Chain, out.Address = kind, acc.Chain(), acc.Address()
	out.Channel = "CROSS-GO-" + randHex(t, 8)
	check := func(what string, res *client.Result, err error) *message.Message {
		t.Helper()
		if err != nil {
			t.Fatalf("%s %s: %v", kind, what, err)
		}
		if res.Status != client.StatusProcessed {
			t.Fatalf("%s %s: status %q, want processed", kind, what, res.Status)
		}
		return res.Message
	}

	postContent := map[string]any{"title": "from Go (" + kind + ")", "body": "ünïcödé ✓", "n": 1, "nested": map[string]any{"list": []any{1, "two", nil, true}}}
	res, err := c.Post(ctx, acc, client.PostParams{Type: "cross-note", Content: postContent, Channel: out.Channel, Sync: true})
	post := check("post", res, err)
	out.Post.Message, out.Post.PostType, out.Post.Content = envelopeOf(post), "cross-note", mustJSON(t, postContent)

	amendContent := map[string]any{"title": "amended", "n": 2, "flags": []any{false, 0.5}}
	res, err = c.Amend(ctx, acc, post.ItemHash, amendContent, client.WriteOptions{Channel: out.Channel, Sync: true})
	out.Amend.Message, out.Amend.Content = envelopeOf(check("amend", res, err)), mustJSON(t, amendContent)

	out.Aggregate.Key = "cross"
	for i, v := range []map[string]any{
		{"name": "go-" + kind, "n": 1, "deep": map[string]any{"a": 1}},
		{"n": 2, "deep": map[string]any{"b": 2}, "extra": "x"},
	} {
		res, err = c.UpdateAggregate(ctx, acc, out.Aggregate.Key, v, client.WriteOptions{Channel: out.Channel, Sync: true})
		out.Aggregate.Messages = append(out.Aggregate.Messages, envelopeOf(check(fmt.Sprintf("aggregate update %d", i+1), res, err)))
	}
	// Successive updates merge key by key (shallow): deep is replaced.
	out.Aggregate.Merged = mustJSON(t, map[string]any{"name": "go-" + kind, "n": 2, "deep": map[string]any{"b": 2}, "extra": "x"})

	data := make([]byte, 256+700)
	for i := range 256 {
		data[i] = byte(i)
	}
	rand.Read(data[256:])
	res, err = c.Store(ctx, acc, bytes.NewReader(data), client.StoreParams{Engine: client.EngineStorage, Channel: out.Channel, Sync: true})
	out.Store.Message = envelopeOf(check("store", res, err))
	sum := sha256.Sum256(data)
	if res.FileHash != hex.EncodeToString(sum[:]) {
		t.Fatalf("%s store: file hash %s, want the sha256 %x", kind, res.FileHash, sum)
	}
	out.Store.FileHash, out.Store.BytesB64 = res.FileHash, base64.StdEncoding.EncodeToString(data)
	return out
}

// goRead reads back with the Go client what cross/write.mjs wrote with the
// official SDK for one account, and asserts exact equality.
func goRead(t *testing.T, c *client.Client, acc crossAccount) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// postContent reads the fields of a POST content the checks compare.
	type postContent struct {
		Type    string          `json:"type"`
		Address string          `json:"address"`
		Ref     string          `json:"ref"`
		Content json.RawMessage `json:"content"`
	}
	postMsg := checkMessage(t, ctx, c, "post", acc.Post.Message)
	var pc postContent
	if err := json.Unmarshal(postMsg.Content, &pc); err != nil {
		t.Fatalf("post content: %v", err)
	}
	if pc.Type != acc.Post.PostType || pc.Address != acc.Address {
		t.Errorf("post content type/address = %q/%q, want %q/%q", pc.Type, pc.Address, acc.Post.PostType, acc.Address)
	}
	assertJSONEqual(t, "post content.content", pc.Content, acc.Post.Content)

	amendMsg := checkMessage(t, ctx, c, "amend", acc.Amend.Message)
	var ac postContent
	if err := json.Unmarshal(amendMsg.Content, &ac); err != nil {
		t.Fatalf("amend content: %v", err)
	}
	if ac.Type != "amend" || ac.Ref != acc.Post.Message.ItemHash {
		t.Errorf("amend content type/ref = %q/%q, want amend/%s", ac.Type, ac.Ref, acc.Post.Message.ItemHash)
	}
	assertJSONEqual(t, "amend content.content", ac.Content, acc.Amend.Content)

	page, err := c.Posts(ctx, client.PostFilter{Addresses: []string{acc.Address}})
	if err != nil {
		t.Fatalf("Posts: %v", err)
	}
	if page.Total != 1 || len(page.Posts) != 1 {
		t.Fatalf("Posts by %s: total %d, %d posts; want exactly 1 (amends are not listed)", acc.Address, page.Total, len(page.Posts))
	}
	p := page.Posts[0]
	for _, f := range []struct{ what, got, want string }{
		{"item_hash", p.ItemHash, acc.Amend.Message.ItemHash},
		{"original_item_hash", p.OriginalItemHash, acc.Post.Message.ItemHash},
		{"hash", p.Hash, acc.Post.Message.ItemHash},
		{"original_type", p.OriginalType, acc.Post.PostType},
		{"signature", p.Signature, acc.Amend.Message.Signature},
		{"item_content", p.ItemContent, acc.Amend.Message.ItemContent},
		{"sender", p.Sender, acc.Address},
		{"address", p.Address, acc.Address},
		{"chain", p.Chain, acc.Chain},
		{"channel", p.Channel, acc.Channel},
	} {
		if f.got != f.want {
			t.Errorf("Posts()[0].%s = %q, want %q", f.what, f.got, f.want)
		}
	}
	if p.Time != acc.Amend.Message.Time {
		t.Errorf("Posts()[0].time = %v, want the amend's %v", p.Time, acc.Amend.Message.Time)
	}
	assertJSONEqual(t, "Posts()[0].content", p.Content, acc.Amend.Content)

	for i, m := range acc.Aggregate.Messages {
		checkMessage(t, ctx, c, fmt.Sprintf("aggregate update %d", i+1), m)
	}
	agg, err := c.Aggregate(ctx, acc.Address, acc.Aggregate.Key)
	if err != nil {
		t.Fatalf("Aggregate: %v", err)
	}
	assertJSONEqual(t, "Aggregate", agg, acc.Aggregate.Merged)

	storeMsg := checkMessage(t, ctx, c, "store", acc.Store.Message)
	var sc struct {
		ItemType string `json:"item_type"`
		ItemHash string `json:"item_hash"`
		Address  string `json:"address"`
	}
	if err := json.Unmarshal(storeMsg.Content, &sc); err != nil {
		t.Fatalf("store content: %v", err)
	}
	if sc.ItemType != "storage" || sc.ItemHash != acc.Store.FileHash || sc.Address != acc.Address {
		t.Errorf("store content = %+v, want item_type storage, item_hash %s, address %s", sc, acc.Store.FileHash, acc.Address)
	}
	want, err := base64.StdEncoding.DecodeString(acc.Store.BytesB64)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	n, err := c.Download(ctx, acc.Store.FileHash, &got)
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	if n != int64(len(want)) || !bytes.Equal(got.Bytes(), want) {
		t.Errorf("Download(%s): %d bytes that differ from the %d the SDK stored", acc.Store.FileHash, n, len(want))
	}
}

// checkMessage fetches hash with client.Message and asserts that the decoded
// envelope is exactly the one the SDK made, that its signature still
// verifies, and that the parsed content is item_content's. It returns it.
func checkMessage(t *testing.T, ctx context.Context, c *client.Client, what string, want crossEnvelope) *client.Message {
	t.Helper()
	res, err := c.Message(ctx, want.ItemHash)
	if err != nil {
		t.Fatalf("Message(%s) (%s): %v", want.ItemHash, what, err)
	}
	if res.Status != client.StatusProcessed || res.ItemHash != want.ItemHash || res.Message == nil {
		t.Fatalf("Message(%s) (%s): status %q, item_hash %q; want processed: %s", want.ItemHash, what, res.Status, res.ItemHash, res.Raw)
	}
	if got := envelopeOf(&res.Message.Message); got != want {
		t.Errorf("%s: client.Message decoded\n%+v\nwant the envelope the SDK made\n%+v", what, got, want)
	}
	m := res.Message.Message
	if err := chain.Verify(m.Chain, m.Sender, m.VerificationBuffer(), m.Signature); err != nil {
		t.Errorf("%s: the decoded envelope's signature does not verify: %v", what, err)
	}
	assertJSONEqual(t, what+" content", res.Message.Content, json.RawMessage(want.ItemContent))
	return res.Message
}

// assertJSONEqual compares two JSON documents by value.
func assertJSONEqual(t *testing.T, what string, got, want json.RawMessage) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: %v in %s", what, err, got)
		return
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Errorf("%s: %v in the expected %s", what, err, want)
		return
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randHex(t *testing.T, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// startCrossNode starts a node on a loopback port with a fresh data dir,
// stopped when the test ends, and returns its host:port.
func startCrossNode(t *testing.T) string {
	_, addr := startNode(t, "", slog.LevelWarn)
	return addr
}

// startNode starts a node on a loopback port with a fresh data dir and the
// database dbURL ("" = SQLite in the data dir), logging at level to the
// test log, stopped when the test ends. It returns the node and its
// host:port.
func startNode(t *testing.T, dbURL string, level slog.Level) (*node.Node, string) {
	t.Helper()
	return startNodeWith(t, node.Config{DatabaseURL: dbURL}, level)
}

// startNodeWith is startNode with a configuration.
func startNodeWith(t *testing.T, cfg node.Config, level slog.Level) (*node.Node, string) {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: level}))
	n, addr := nodetest.Start(t, cfg)
	t.Logf("node listening on %s (store %T)", addr, n.Store())
	return n, addr
}

// runNode runs Node.js in dir against the node at addr and returns its
// stdout; its stderr goes to the test log as it comes. A non-zero exit or
// the timeout is an error.
func runNode(t *testing.T, nodeBin, dir, addr string, env []string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), crossTimeout)
	defer cancel()
	var stdout bytes.Buffer
	cmd := nodeCommand(ctx, nodeBin, dir, addr, env, args...)
	cmd.Stdout = &stdout
	err := runLogged(t, cmd)
	if ctx.Err() != nil {
		err = fmt.Errorf("node %s did not finish within %s: %w", strings.Join(args, " "), crossTimeout, err)
	}
	return stdout.Bytes(), err
}

// nodeCommand returns Node.js running args in dir against the node at addr,
// with env added to the environment. On cancellation it kills the whole
// process group (node --test runs each file in a child process) and stops
// waiting for output 10 s later.
func nodeCommand(ctx context.Context, nodeBin, dir, addr string, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, nodeBin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(),
		"ALEPH_API_URL=http://"+addr,
		"ALEPH_WS_URL=ws://"+addr,
		"NO_COLOR=1",
	), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// runLogged runs cmd with its stderr, and its stdout unless cmd has one,
// streamed line by line to the test log.
func runLogged(t *testing.T, cmd *exec.Cmd) error {
	pr, pw := io.Pipe()
	if cmd.Stdout == nil {
		cmd.Stdout = pw
	}
	cmd.Stderr = pw
	var wg sync.WaitGroup
	wg.Go(func() { logLines(t, pr) })
	err := cmd.Run()
	pw.Close()
	wg.Wait()
	return err
}
