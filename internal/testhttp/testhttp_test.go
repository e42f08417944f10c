package testhttp

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestGet(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte(r.Method + " " + r.URL.Path))
	}))
	defer srv.Close()
	resp, body := Get(t, srv.Client(), srv.URL+"/x")
	if resp.StatusCode != http.StatusTeapot || body != "GET /x" {
		t.Fatalf("got %d %q, want 418 \"GET /x\"", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/y", nil)
	if _, body := Do(t, nil, req); body != "POST /y" {
		t.Fatalf("got %q, want \"POST /y\"", body)
	}
}

func TestCheckError(t *testing.T) {
	resp := &http.Response{StatusCode: http.StatusBadRequest}
	if err := CheckError(resp, `{"error":"bad hash"}`, http.StatusBadRequest, "hash"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		body     string
		status   int
		contains string
	}{
		{`{"error":"bad hash"}`, http.StatusNotFound, "hash"},
		{`{"error":"bad hash"}`, http.StatusBadRequest, "size"},
		{`not json`, http.StatusBadRequest, ""},
	} {
		if CheckError(resp, c.body, c.status, c.contains) == nil {
			t.Errorf("%s with %d/%q: accepted", c.body, c.status, c.contains)
		}
	}
}
