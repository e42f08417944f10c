package api

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A list over MaxListValues or a page over MaxPageSize is a 422 naming the
// limit, on every list route, on SQLite, where 11,000 values once made a
// 500 "too many SQL variables".
func TestQueryLimits(t *testing.T) {
	e := newEnv(t)
	values := func(n int, prefix string) string {
		l := make([]string, n)
		for i := range l {
			l[i] = fmt.Sprintf("%s%d", prefix, i)
		}
		return strings.Join(l, ",")
	}
	hashes := func(n int) string {
		l := make([]string, n)
		for i := range l {
			l[i] = fmt.Sprintf("%064x", i)
		}
		return strings.Join(l, ",")
	}
	for _, tc := range []struct {
		target, want string
	}{
		{"/api/v0/posts.json?addresses=" + values(11000, "0x") + "&tags=" + values(11000, "t"), "addresses: 11000 values, the limit is 1000"},
		{"/api/v0/messages.json?tags=" + values(1001, "t"), "tags: 1001 values, the limit is 1000"},
		{"/api/v0/messages.json?hashes=" + hashes(1001), "hashes: 1001 values, the limit is 1000"},
		{"/api/v0/messages.json?refs=" + values(1001, "r"), "refs"},
		{"/api/v0/messages.json?channels=" + values(1001, "c"), "channels"},
		{"/api/v0/aggregates.json?addresses=" + values(1001, "0x"), "addresses"},
		{"/api/v0/addresses/stats.json?addresses=" + values(1001, "0x"), "addresses"},
		{"/api/ws0/messages?addresses=" + values(1001, "0x"), "addresses"},
		{"/api/v0/messages.json?pagination=10000000", "pagination: 10000000 is not between 0 and 1000"},
		{"/api/v0/posts.json?pagination=1001", "between 0 and 1000"},
		{"/api/v0/addresses/0xA/files?pagination=1001", "between 0 and 1000"},
	} {
		resp := e.do(http.MethodGet, tc.target)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, tc.want) {
			t.Errorf("%.60s…: %d %.200s, want 422 naming %q", tc.target, resp.StatusCode, body, tc.want)
		}
	}
	// At the limits, the queries run.
	for _, target := range []string{
		"/api/v0/posts.json?addresses=" + values(1000, "0x") + "&tags=" + values(1000, "t") + "&refs=" + values(1000, "r") + "&channels=" + values(1000, "c") + "&hashes=" + hashes(1000) + "&types=" + values(1000, "y"),
		"/api/v0/messages.json?addresses=" + values(1000, "0x") + "&tags=" + values(1000, "t") + "&refs=" + values(1000, "r") + "&channels=" + values(1000, "c") + "&hashes=" + hashes(1000) + "&contentKeys=" + values(1000, "k") + "&contentTypes=" + values(1000, "y") + "&owners=" + values(1000, "o"),
		"/api/v0/messages.json?pagination=1000",
	} {
		e.wantStatus(target, http.StatusOK)
	}
}

// pagination=0, the reference's "no limit", is a page of MaxPageSize.
func TestPaginationZeroIsMaxPage(t *testing.T) {
	e := newEnv(t)
	e.insert(newRec(rec{sender: "0xA", time: 1, ptype: "t"}))
	body := e.getJSON("/api/v0/messages.json?pagination=0")
	if n := num(t, field(t, body, "pagination_per_page")); n != MaxPageSize {
		t.Errorf("pagination_per_page %v, want %d", n, MaxPageSize)
	}
}
