// Package testhttp holds the HTTP steps tests share: send a request, fail
// the test on a transport error, and return the response with its body.
package testhttp

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Do sends req with c (http.DefaultClient when nil) and returns the
// response and its whole body, failing t when either cannot be had.
func Do(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// Get is Do of a GET of url.
func Get(t testing.TB, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Do(t, c, req)
}

// CheckError checks a JSON error answer: nil when resp has status and
// body is {"error": …} with an error containing contains.
func CheckError(resp *http.Response, body string, status int, contains string) error {
	var e struct {
		Error string `json:"error"`
	}
	if resp.StatusCode != status || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, contains) {
		return fmt.Errorf("got %d %s; want %d with an error containing %q", resp.StatusCode, body, status, contains)
	}
	return nil
}
