package wasm

import (
	"errors"
	"reflect"
	"testing"

	"github.com/goaleph/goaleph/internal/compute"
)

func TestParseResponse(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      *compute.Response // nil: ErrBadResponse
	}{
		{"crlf", "Status: 201 Created\r\nContent-Type: text/plain\r\n\r\nhi",
			&compute.Response{Status: 201, Headers: [][2]string{{"content-type", "text/plain"}}, Body: []byte("hi")}},
		{"lf, no status", "Content-Type: text/plain\nX-A:  b \n\nhi\n\nthere",
			&compute.Response{Status: 200, Headers: [][2]string{{"content-type", "text/plain"}, {"x-a", "b"}}, Body: []byte("hi\n\nthere")}},
		{"status only, empty body", "Status: 204 No Content\n\n",
			&compute.Response{Status: 204, Body: []byte{}}},
		{"location", "Location: /x\n\n",
			&compute.Response{Status: 302, Headers: [][2]string{{"location", "/x"}}, Body: []byte{}}},
		{"status without reason", "Status: 404\n\n", &compute.Response{Status: 404, Body: []byte{}}},
		{"empty", "", nil},
		{"body only", "hello world", nil},
		{"body with newline", "hello world\n", nil},
		{"json", "{\"a\": 1}\n\n", nil},
		{"no blank line", "Content-Type: text/plain\n", nil},
		{"empty header block", "\r\nbody", nil},
		{"bad status", "Status: abc\n\n", nil},
		{"short status", "Status: 20\n\n", nil},
		{"space in name", "Content Type: x\n\n", nil},
		{"continuation", "A: b\n c\n\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseResponse([]byte(tc.out))
			if tc.want == nil {
				if !errors.Is(err, ErrBadResponse) {
					t.Fatalf("got %+v, %v; want ErrBadResponse", got, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nbody"))
	f.Add([]byte("Location: /\n\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, out []byte) {
		resp, err := parseResponse(out)
		if err != nil {
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("error %v is not ErrBadResponse", err)
			}
			return
		}
		if resp.Status < 100 || resp.Status > 999 {
			t.Fatalf("status %d", resp.Status)
		}
		for _, h := range resp.Headers {
			if !validToken(h[0]) || h[0] == "status" {
				t.Fatalf("header %q", h)
			}
		}
		if len(resp.Body) > len(out) {
			t.Fatal("body longer than the output")
		}
	})
}

func TestEnvironEvent(t *testing.T) {
	env := environ(&compute.Spec{Variables: map[string]string{"B": "2", "A": "1", "REQUEST_METHOD": "x"}},
		&compute.Scope{Type: "aleph.message", Body: []byte(`{"a":1}`)})
	m := map[string]string{}
	var order []string
	for _, kv := range env {
		if _, dup := m[kv[0]]; dup {
			t.Errorf("%s twice", kv[0])
		}
		m[kv[0]] = kv[1]
		order = append(order, kv[0])
	}
	if m["ALEPH_SCOPE_TYPE"] != "aleph.message" || m["CONTENT_LENGTH"] != "7" || m["REQUEST_METHOD"] != "" || m["A"] != "1" {
		t.Errorf("environment %q", env)
	}
	if order[len(order)-2] != "A" || order[len(order)-1] != "B" {
		t.Errorf("variables not last, sorted: %q", order)
	}
}
