package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
)

// decodeCanonicalJSON is the canonicalisation by decoding into Go values
// that canonicalJSON replaces; tests use it as the oracle.
func decodeCanonicalJSON(body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

var canonicalCases = []string{
	`{"b":1,"a":[true,false,null,"x"],"c":{"z":1.50,"y":-0e3}}`,
	`  [ 1 , 2 ,{ "k" : "v" } ]  `,
	`{"a":1,"a":2}`,
	`{"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k1":10,"k9":11}`,
	`"<html> & \u2028 \ud800 \u00e9 é"`,
	"\"\xff invalid utf-8\"",
	`{"\u00e9":1,"e":2,"é":3}`,
	`{}`, `[]`, `[[],{}]`, `0`, `null`,
	`{"a":1} ]`,
	`{"a":`, `{"a" 1}`, `[1,]`, `{"a":1,}`, `{1:2}`, `[1] [2]`, `01`, ``, `tru`,
	// Surrogates: pairs, lone ones, a lone one before another escape.
	`"\ud83d\ude00 \ud800\u0041 \ud800\ud800\udc00 \udc00 \ud800"`,
	`"\ud800\"`, `"\ud800\u12"`, `"\ud800\uZZZZ"`, `"\u12G4"`, `"\u00"`,
	// Every short escape, control characters, DEL, U+2029, bad escapes.
	`"\" \\ \/ \b \f \n \r \t \u0000 \u001f \u007f \u2029 \u00e9"`,
	`"\'"`, `"\x"`, "\"\x01\"", "\"a\tb\"", `"\`, `"abc`,
	// Invalid UTF-8: a cut sequence, an encoded surrogate, a lone continuation.
	"\"\xe2\x82 \xed\xa0\x80 \x80 \xf0\x9f\x98\"", "{\"\xff\":1,\"\xef\xbf\xbd\":2}",
	// Keys out of order, nested, repeated, with escapes.
	`{"b":{"d":1,"c":[{"z":1,"y":2,"z":3}]},"a":{"b":1,"a":2},"":0}`,
	`{"\"":1,"!":2,"#":3,"\u0000":4,"\u00e9":5,"\ud83d\ude00":6,"\uffff":7}`,
	`{"a":1,"b":2,"a":3}`, `{"a":{"x":1},"a":{"y":2}}`, `[{"b":1,"a":2},{"d":3,"c":4}]`,
	// Numbers.
	`-0`, `-`, `-a`, `1.`, `1.e5`, `1e`, `1e+`, `1E+05`, `-12.50e-3`, `[1.5,-0.0,2e10]`, `1x`, `1 }`, `.5`, `+1`,
	// Literals and trailing bytes.
	`nul`, `nulls`, `[true,false,null]`, `truex`, `"a" "b"`, "\t\r\n 1 \n", `{"a":1}}`, `[[1]]]`,
}

func TestCanonicalJSONMatchesDecoding(t *testing.T) {
	for _, c := range canonicalCases {
		checkCanonical(t, []byte(c))
	}
	deep := strings.Repeat("[", 10001) + strings.Repeat("]", 10001)
	checkCanonical(t, []byte(deep))
	checkCanonical(t, []byte(deep[1:len(deep)-1]))
}

func checkCanonical(t *testing.T, body []byte) {
	t.Helper()
	want, werr := decodeCanonicalJSON(body)
	// Readers that hand the body over in small pieces put escapes and
	// runes across the canonicaliser's refills.
	var src io.Reader = bytes.NewReader(body)
	switch len(body) % 3 {
	case 1:
		src = iotest.OneByteReader(src)
	case 2:
		src = iotest.HalfReader(src)
	}
	var got []byte
	out, gerr := canonicalJSON(src)
	if gerr == nil {
		got = out.bytes()
	}
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%.80q: error %v, decoding gives %v", body, gerr, werr)
	}
	if werr == nil && !bytes.Equal(got, want) {
		t.Fatalf("%.80q: got %q, want %q", body, got, want)
	}
}

// FuzzCanonicalJSON checks the token-level canonicaliser against decoding
// into Go values: same acceptance, byte-identical output.
func FuzzCanonicalJSON(f *testing.F) {
	for _, c := range canonicalCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkCanonical(t, body) })
}

// smallLimits make the limits testable with small bodies.
var smallLimits = Limits{
	MaxFileSize:            256 << 10,
	MaxUnauthenticatedSize: 16 << 10,
	MaxIPFSFileSize:        64 << 20,
	MaxCARSize:             1 << 20,
	MaxBodySize:            4 << 10,
}

func newUploadEnv(t testing.TB) *env {
	e := newEnv(t)
	e.srv = New(Config{Node: recordingNode{e.node, e}, Store: e.db, Files: e.files, Limits: smallLimits, Version: "test"})
	return e
}

// recordingNode records the file rows of uploads as the core node does,
// so that a later upload of the same file sees it as already known.
type recordingNode struct {
	*fakeNode
	e *env
}

func (n recordingNode) PinUpload(ctx context.Context, f files.Info) error {
	return n.e.db.Update(ctx, func(tx store.Tx) error {
		return tx.UpsertFile(&store.File{Hash: f.Hash, Size: f.Size, Type: "file"})
	})
}

// multipartBody builds a form with the given parts (name, content).
func multipartBody(t testing.TB, parts ...[2]string) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		var w io.Writer
		var err error
		if p[0] == "file" {
			w, err = mw.CreateFormFile("file", "f.bin")
		} else {
			w, err = mw.CreateFormField(p[0])
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p[1])
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func TestAddFileParts(t *testing.T) {
	e := newUploadEnv(t)
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	big := strings.Repeat("x", 10<<10)
	meta := `{"message":{"type":"STORE"},"sync":false}`
	for _, tc := range []struct {
		name  string
		parts [][2]string
		code  int
		msg   string
	}{
		{"two files", [][2]string{{"file", big}, {"file", "small"}}, 400, "more than one file part"},
		{"unknown part", [][2]string{{"file", big}, {"other", "x"}}, 400, `unexpected part \"other\"`},
		{"unknown part first", [][2]string{{"junk", "x"}, {"file", big}}, 400, `unexpected part \"junk\"`},
		{"two metadata", [][2]string{{"metadata", meta}, {"metadata", meta}, {"file", big}}, 400, "more than one metadata part"},
		{"large metadata", [][2]string{{"metadata", strings.Repeat(" ", 5<<10) + meta}, {"file", big}}, 413, "metadata part larger"},
		{"anonymous too large", [][2]string{{"file", big + big}}, 413, "too large"},
		{"file before metadata too large", [][2]string{{"file", big + big}, {"metadata", meta}}, 413, "too large"},
		{"bad message after file", [][2]string{{"file", big}, {"metadata", meta}}, 422, ""},
	} {
		for _, engine := range []string{"storage", "ipfs"} {
			ct, body := multipartBody(t, tc.parts...)
			resp, err := http.Post(srv.URL+"/api/v0/"+engine+"/add_file", ct, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.msg) {
				t.Errorf("%s %s: %d %s, want %d %q", engine, tc.name, resp.StatusCode, b, tc.code, tc.msg)
			}
			if n, _ := e.files.Usage(); n != 0 {
				t.Fatalf("%s %s: %d files left on disk", engine, tc.name, n)
			}
		}
	}
	// A file the store held before a refused upload stays.
	known := e.addFile(files.Native, big, "", "", "")
	ct, body := multipartBody(t, [2]string{"file", big}, [2]string{"file", "x"})
	resp, err := http.Post(srv.URL+"/api/v0/storage/add_file", ct, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ok, _ := e.files.Has(context.Background(), known.Hash); resp.StatusCode != 400 || !ok {
		t.Fatalf("refused upload of a known file: %d, file kept %v", resp.StatusCode, ok)
	}
	// One file part under the limit is stored.
	ct, body = multipartBody(t, [2]string{"file", big})
	resp, err = http.Post(srv.URL+"/api/v0/ipfs/add_file", ct, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n, _ := e.files.Usage(); resp.StatusCode != 200 || n != 2 {
		t.Fatalf("upload: %d, %d files", resp.StatusCode, n)
	}
}

// countingBody yields n bytes of a file part and counts what was read.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// TestAddFileAnonymousLimitStreams sends an anonymous IPFS upload far
// larger than the unauthenticated limit but under the IPFS one: the node
// must stop reading near the anonymous limit, not after the IPFS one.
func TestAddFileAnonymousLimitStreams(t *testing.T) {
	e := newUploadEnv(t)
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	const size = 48 << 20
	boundary := "b0undary"
	head := fmt.Sprintf("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n\r\n", boundary)
	tail := fmt.Sprintf("\r\n--%s--\r\n", boundary)
	body := &countingBody{r: io.MultiReader(strings.NewReader(head), io.LimitReader(zeros{}, size), strings.NewReader(tail))}
	req, _ := http.NewRequest("POST", srv.URL+"/api/v0/ipfs/add_file", body)
	req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("anonymous upload of %d bytes: %d %s", size, resp.StatusCode, b)
		}
	}
	// The node reads the anonymous limit and a little more; the rest
	// at most fills the socket buffers.
	if n := body.read.Load(); n > 16<<20 {
		t.Fatalf("client sent %d bytes before the node refused the upload", n)
	}
	if n, _ := e.files.Usage(); n != 0 {
		t.Fatalf("%d files left on disk", n)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// FuzzAddFile feeds arbitrary multipart bodies to the upload handler: it
// must never answer 5xx, and an upload it refuses leaves no file behind.
func FuzzAddFile(f *testing.F) {
	for _, parts := range [][][2]string{
		{{"file", "hello"}},
		{{"file", "a"}, {"file", "b"}},
		{{"metadata", `{"message":{}}`}, {"file", "x"}},
		{{"file", "x"}, {"metadata", `{"message":{"type":"STORE"}}`}},
		{{"other", "x"}},
	} {
		_, body := multipartBodyBoundary(parts...)
		f.Add(body)
	}
	e := newUploadEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, engine := range []string{"storage", "ipfs"} {
			req := httptest.NewRequest("POST", "/api/v0/"+engine+"/add_file", bytes.NewReader(body))
			req.Header.Set("Content-Type", "multipart/form-data; boundary=fuzzb")
			w := httptest.NewRecorder()
			before, _ := e.files.Usage()
			e.srv.ServeHTTP(w, req)
			after, _ := e.files.Usage()
			if w.Code >= 500 {
				t.Fatalf("%s: %d %s", engine, w.Code, w.Body)
			}
			if w.Code != 200 && after != before {
				t.Fatalf("%s: refused with %d but files %d -> %d", engine, w.Code, before, after)
			}
		}
	})
}

// multipartBodyBoundary is multipartBody with the fuzz target's boundary.
func multipartBodyBoundary(parts ...[2]string) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.SetBoundary("fuzzb")
	for _, p := range parts {
		var w io.Writer
		if p[0] == "file" {
			w, _ = mw.CreateFormFile("file", "f.bin")
		} else {
			w, _ = mw.CreateFormField(p[0])
		}
		io.WriteString(w, p[1])
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// TestAddJSONCanonicalBytes pins the bytes add_json stores for a body with
// whitespace, keys out of order, a repeated key, escapes, a lone surrogate
// and numbers as written, and the hash it answers (sha256 of those bytes).
func TestAddJSONCanonicalBytes(t *testing.T) {
	e := newUploadEnv(t)
	srv := httptest.NewServer(e.srv)
	defer srv.Close()
	body := ` { "c" : 1, "b" : {"y":"\u00e9\u2028\ud800", "x":"\u003c&>"},` + "\n" +
		` "a" : [1, 2.50, -0e3, true, null], "c":"\"\\\u000a" } `
	want := "{\"a\":[1,2.50,-0e3,true,null],\"b\":{\"x\":\"<&>\",\"y\":\"é\\u2028\uFFFD\"},\"c\":\"\\\"\\\\\\n\"}"
	const wantHash = "03b1ab274ad55b94291e07840a5778d73c6b1024d91f8e62f38b35f88207e55c"
	checkCanonical(t, []byte(body)) // decoding into Go values gives the same
	resp, err := http.Post(srv.URL+"/api/v0/storage/add_json", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var ans struct{ Status, Hash string }
	err = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || ans.Hash != wantHash {
		t.Fatalf("status %d, answer %+v, %v; want hash %s", resp.StatusCode, ans, err, wantHash)
	}
	f, err := e.files.Open(context.Background(), ans.Hash)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(got) != want {
		t.Fatalf("stored %q, %v; want %q", got, err, want)
	}
}
