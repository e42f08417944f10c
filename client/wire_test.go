package client_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/chain/sol"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/vectors"
	"github.com/goaleph/goaleph/message"
)

func vectorsDir(t testing.TB) string { return vectors.Dir(t) }

// wireVector is a request captured from the official TypeScript SDK.
type wireVector struct {
	Account struct {
		PrivateKeyHex   string `json:"private_key_hex"`
		SecretKeyBase58 string `json:"secret_key_base58"`
	} `json:"account"`
	Request vectors.Request `json:"request"`
	Message struct {
		Time        float64 `json:"time"`
		Channel     string  `json:"channel"`
		ItemContent string  `json:"item_content"`
	} `json:"message"`
}

// captured is one request received by the recording server.
type captured struct {
	path  string
	body  []byte
	parts [][4]string // name, filename, content type, data
}

// recorder answers like a node that processes everything and records
// the requests.
func recorder(t *testing.T, out *[]captured) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := captured{path: r.URL.Path}
		mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt == "multipart/form-data" {
			if r.ContentLength <= 0 {
				t.Errorf("multipart upload without Content-Length")
			}
			mr := multipart.NewReader(r.Body, params["boundary"])
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				data, _ := io.ReadAll(p)
				c.parts = append(c.parts, [4]string{p.FormName(), p.FileName(), p.Header.Get("Content-Type"), string(data)})
			}
		} else {
			c.body, _ = io.ReadAll(r.Body)
		}
		*out = append(*out, c)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"publication_status":{"status":"success","failed":[]},"message_status":"processed","status":"success","hash":"x"}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestWireMatchesOfficialSDK replays the shared vectors: with the same key
// and time, the client must send byte for byte what the official SDK sent.
func TestWireMatchesOfficialSDK(t *testing.T) {
	dir := vectorsDir(t)
	for _, name := range []string{"eth-post", "eth-aggregate", "eth-forget", "eth-store", "sol-post", "sol-aggregate", "sol-forget", "sol-store"} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var v wireVector
			if err := json.Unmarshal(raw, &v); err != nil {
				t.Fatal(err)
			}
			var s message.Signer
			if strings.HasPrefix(name, "eth") {
				s, err = eth.AccountFromHex(v.Account.PrivateKeyHex)
			} else {
				s, err = sol.AccountFromBase58(v.Account.SecretKeyBase58)
			}
			if err != nil {
				t.Fatal(err)
			}
			var reqs []captured
			c := client.New(recorder(t, &reqs).URL)
			ctx := context.Background()
			tm := time.UnixMilli(int64(math.Round(v.Message.Time * 1000)))
			var content map[string]json.RawMessage
			if err := json.Unmarshal([]byte(v.Message.ItemContent), &content); err != nil {
				t.Fatal(err)
			}
			str := func(k string) string {
				var s string
				json.Unmarshal(content[k], &s)
				return s
			}
			switch {
			case strings.HasSuffix(name, "-post"):
				_, err = c.Post(ctx, s, client.PostParams{Type: str("type"), Content: content["content"], Channel: v.Message.Channel, Sync: true, Time: tm})
			case strings.HasSuffix(name, "-aggregate"):
				_, err = c.UpdateAggregate(ctx, s, str("key"), content["content"], client.WriteOptions{Channel: v.Message.Channel, Sync: true, Time: tm})
			case strings.HasSuffix(name, "-forget"):
				var hashes []string
				json.Unmarshal(content["hashes"], &hashes)
				_, err = c.Forget(ctx, s, client.ForgetParams{Hashes: hashes, Reason: str("reason"), Channel: v.Message.Channel, Sync: true, Time: tm})
			case strings.HasSuffix(name, "-store"):
				var file []byte
				for _, p := range v.Request.Parts {
					if p.Name == "file" {
						file, _ = base64.StdEncoding.DecodeString(p.Base64)
					}
				}
				_, err = c.Store(ctx, s, bytes.NewReader(file), client.StoreParams{Channel: v.Message.Channel, Sync: true, Time: tm})
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(reqs) != 1 || reqs[0].path != v.Request.Path {
				t.Fatalf("requests %+v", reqs)
			}
			if len(v.Request.Parts) == 0 {
				var want bytes.Buffer
				json.Compact(&want, v.Request.Body)
				if string(reqs[0].body) != want.String() {
					t.Fatalf("body\n%s\nwant\n%s", reqs[0].body, want.String())
				}
				return
			}
			if len(reqs[0].parts) != len(v.Request.Parts) {
				t.Fatalf("%d parts", len(reqs[0].parts))
			}
			for i, want := range v.Request.Parts {
				got := reqs[0].parts[i]
				data := want.Value
				if want.Base64 != "" {
					b, _ := base64.StdEncoding.DecodeString(want.Base64)
					data = string(b)
				}
				if got != [4]string{want.Name, want.Filename, want.ContentType, data} {
					t.Fatalf("part %d\n%q\nwant\n%q", i, got, [4]string{want.Name, want.Filename, want.ContentType, data})
				}
			}
		})
	}
}
