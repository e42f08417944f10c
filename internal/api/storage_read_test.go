package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
)

// addFile stores content in the file store and, with a message, records it
// as the pipeline does for a STORE.
func (e *env) addFile(engine files.Engine, content string, owner, storeMsg, ref string) files.Info {
	e.t.Helper()
	info, err := e.files.Add(context.Background(), engine, strings.NewReader(content), files.AddOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.update(func(tx store.Tx) error {
		if err := tx.UpsertFile(&store.File{Hash: info.Hash, Size: info.Size, Type: "file"}); err != nil {
			return err
		}
		if storeMsg == "" {
			return nil
		}
		if err := tx.AddPin(&store.Pin{FileHash: info.Hash, Type: store.PinMessage, Owner: owner, ItemHash: storeMsg, Ref: ref, Created: 1}); err != nil {
			return err
		}
		tag := ref
		if tag == "" {
			tag = storeMsg
		}
		return tx.UpsertTag(&store.FileTag{Tag: owner + "/" + tag, Owner: owner, FileHash: info.Hash, LastUpdated: 1})
	})
	return info
}

func TestStorageRaw(t *testing.T) {
	e := newEnv(t)
	content := "Hello Aleph.im\n"
	f := e.addFile(files.Native, content, "", "", "")
	if f.Hash != "0214e5578f5acb5d36ea62255cbf1d4c8c1e6a3f2bb6a1ff1ee4dc8d29c70b6f" {
		t.Logf("native hash %s", f.Hash)
	}
	res := e.do(http.MethodGet, "/api/v0/storage/raw/"+f.Hash+"?find")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || string(body) != content {
		t.Fatalf("raw: %d %q", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if cl := res.Header.Get("Content-Length"); cl != "15" {
		t.Errorf("Content-Length %q", cl)
	}
	res = e.do(http.MethodHead, "/api/v0/storage/raw/"+f.Hash)
	body, _ = io.ReadAll(res.Body)
	if res.StatusCode != 200 || len(body) != 0 || res.Header.Get("Content-Length") != "15" {
		t.Errorf("HEAD: %d %q length %q", res.StatusCode, body, res.Header.Get("Content-Length"))
	}
	res = e.do(http.MethodGet, "/api/v0/storage/raw/"+f.Hash, "Range", "bytes=6-10")
	body, _ = io.ReadAll(res.Body)
	if res.StatusCode != http.StatusPartialContent || string(body) != "Aleph" || res.Header.Get("Content-Range") != "bytes 6-10/15" {
		t.Errorf("range: %d %q %q", res.StatusCode, body, res.Header.Get("Content-Range"))
	}
	res = e.do(http.MethodGet, "/api/v0/storage/raw/"+f.Hash, "Range", "bytes=100-")
	if res.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("unsatisfiable range: %d", res.StatusCode)
	}
	// An IPFS file is served the same way.
	ipfs := e.addFile(files.IPFS, "ipfs content", "", "", "")
	if code, body := e.get("/api/v0/storage/raw/" + ipfs.Hash); code != 200 || string(body) != "ipfs content" {
		t.Errorf("ipfs raw: %d %q", code, body)
	}
	e.wantStatus("/api/v0/storage/raw/"+hashOf("absent"), 404)
	e.wantStatus("/api/v0/storage/raw/not-a-hash", 400)
	e.wantStatus("/api/v0/storage/raw/"+strings.ToUpper(f.Hash), 400)
}

func TestStorageBase64(t *testing.T) {
	e := newEnv(t)
	data := "\x00\x01binary\xff"
	f := e.addFile(files.Native, data, "", "", "")
	body := e.getJSON("/api/v0/storage/" + f.Hash)
	wantKeys(t, "storage", body, "status", "hash", "engine", "content")
	raw, err := base64.StdEncoding.DecodeString(str(t, field(t, body, "content")))
	if err != nil || !bytes.Equal(raw, []byte(data)) || str(t, field(t, body, "engine")) != "storage" ||
		str(t, field(t, body, "status")) != "success" || str(t, field(t, body, "hash")) != f.Hash {
		t.Errorf("storage: %s", body)
	}
	ipfs := e.addFile(files.IPFS, "x", "", "", "")
	if body := e.getJSON("/api/v0/storage/" + ipfs.Hash); str(t, field(t, body, "engine")) != "ipfs" {
		t.Errorf("ipfs engine: %s", body)
	}
	e.wantStatus("/api/v0/storage/"+hashOf("absent"), 404)
	e.wantStatus("/api/v0/storage/nope", 400)
}

func TestStorageLookups(t *testing.T) {
	e := newEnv(t)
	storeMsg := hashOf("store message")
	f := e.addFile(files.Native, "file body", "0xA", storeMsg, "doc")
	for _, path := range []string{
		"/api/v0/storage/by-message-hash/" + storeMsg,
		"/api/v0/storage/by-ref/doc",
		"/api/v0/storage/by-ref/0xA/doc",
	} {
		body := e.getJSON(path)
		wantKeys(t, path, body, "ref", "owner", "file_hash", "download_url", "size")
		if str(t, field(t, body, "file_hash")) != f.Hash || str(t, field(t, body, "download_url")) != "/api/v0/storage/raw/"+f.Hash ||
			num(t, field(t, body, "size")) != 9 || str(t, field(t, body, "owner")) != "0xA" || str(t, field(t, body, "ref")) != "doc" {
			t.Errorf("%s: %s", path, body)
		}
	}
	e.wantStatus("/api/v0/storage/by-message-hash/"+hashOf("other"), 404)
	e.wantStatus("/api/v0/storage/by-message-hash/xyz", 400)
	e.wantStatus("/api/v0/storage/by-ref/0xB/doc", 404)
	e.wantStatus("/api/v0/storage/by-ref/none", 404)

	body := e.getJSON("/api/v0/storage/metadata/" + f.Hash)
	wantKeys(t, "metadata", body, "file_hash", "type", "size", "download_url")
	if str(t, field(t, body, "type")) != "file" || num(t, field(t, body, "size")) != 9 {
		t.Errorf("metadata: %s", body)
	}
	e.wantStatus("/api/v0/storage/metadata/"+hashOf("absent"), 404)
	e.wantStatus("/api/v0/storage/metadata/bad", 400)

	if got := e.getJSON("/api/v0/storage/count/" + f.Hash); string(got) != "1" {
		t.Errorf("count: %s", got)
	}
	if got := e.getJSON("/api/v0/storage/count/" + hashOf("absent")); string(got) != "0" {
		t.Errorf("count of an unknown file: %s", got)
	}
	e.wantStatus("/api/v0/storage/count/bad", 400)
}

func TestStorageLimits(t *testing.T) {
	e := newEnv(t)
	body := e.getJSON("/api/v0/storage/limits.json")
	wantKeys(t, "limits", body, "storage", "ipfs")
	wantKeys(t, "storage limits", field(t, body, "storage"), "max_file_size", "max_unauthenticated_upload_file_size")
	wantKeys(t, "ipfs limits", field(t, body, "ipfs"), "max_upload_file_size", "max_upload_car_size", "max_unauthenticated_upload_file_size")
	if num(t, field(t, body, "storage", "max_file_size")) != 100<<20 || num(t, field(t, body, "ipfs", "max_upload_car_size")) != 4<<30 ||
		num(t, field(t, body, "ipfs", "max_unauthenticated_upload_file_size")) != 25<<20 {
		t.Errorf("limits: %s", body)
	}
}
