package p2p

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/message"
)

func signed(t testing.TB) *message.Message {
	t.Helper()
	a := ethtest.Account(t)
	content, _ := json.Marshal(map[string]any{"address": a.Address(), "time": 1700000000.5,
		"type": "test", "content": map[string]string{"body": "100% pure"}})
	m, err := message.NewInline(a, message.TypePost, "TEST", string(content), time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseEnvelope(t *testing.T) {
	m := signed(t)
	env, _ := json.Marshal(m)
	for name, data := range map[string][]byte{
		"plain":          env,
		"percent-quoted": []byte(url.PathEscape(string(env))),
	} {
		got, err := parseEnvelope(data)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got.ItemHash != m.ItemHash || got.Signature != m.Signature {
			t.Errorf("%s: got %s", name, got.ItemHash)
		}
	}
	// The content holds "100% pure": the plain payload must not be
	// percent-decoded.
	for _, bad := range []string{"", "{", "null", `{"type":"POST"}`, "%7B%7D", "%zz"} {
		if _, err := parseEnvelope([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestUnquote(t *testing.T) {
	for in, want := range map[string]string{
		"%7B%22a%22%3A1%7D": `{"a":1}`,
		"100%":              "100%",
		"%zz%4":             "%zz%4",
		"a+b":               "a+b",
		"%e2%82%ac":         "€",
	} {
		if got := string(unquote([]byte(in))); got != want {
			t.Errorf("unquote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMessageID(t *testing.T) {
	m := signed(t)
	env, _ := json.Marshal(m)
	id := messageID(&pb.Message{Data: env})
	if got := messageID(&pb.Message{Data: []byte(url.PathEscape(string(env)))}); got != id {
		t.Errorf("quoted copy has id %s, want %s", got, id)
	}
	if len(id) < 64 || id[:64] != m.ItemHash {
		t.Errorf("id %s does not start with the item hash", id)
	}
	forged := *m
	forged.Signature = "0x00"
	fenv, _ := json.Marshal(forged)
	if messageID(&pb.Message{Data: fenv}) == id {
		t.Error("a copy with another signature has the same id")
	}
	if a, b := messageID(&pb.Message{Data: []byte("x")}), messageID(&pb.Message{Data: []byte("y")}); a == b {
		t.Error("raw payloads share an id")
	}
}

func TestIdentityKeyPersists(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", KeyFileName)
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	id1, _ := peer.IDFromPrivateKey(k1)
	id2, _ := peer.IDFromPrivateKey(k2)
	if id1 != id2 {
		t.Fatalf("identity changed: %s then %s", id1, id2)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil {
		t.Error("a corrupt key file was accepted")
	}
}

func FuzzParseEnvelope(f *testing.F) {
	m := signed(f)
	env, _ := json.Marshal(m)
	f.Add(env)
	f.Add([]byte(url.PathEscape(string(env))))
	f.Add([]byte("%7B%22item_hash%22%3A%22x%22%7D"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = messageID(&pb.Message{Data: data})
		got, err := parseEnvelope(data)
		if err == nil && got.ItemHash == "" {
			t.Fatal("envelope without item hash accepted")
		}
	})
}
