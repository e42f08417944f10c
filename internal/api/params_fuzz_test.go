package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// queryRequest is a GET of target with the raw query q, or nil when q is
// not something a client could send.
func queryRequest(target, q string) *http.Request {
	if strings.ContainsAny(q, " #\r\n\x00") {
		return nil
	}
	r, err := http.NewRequest(http.MethodGet, target+"?"+q, nil)
	if err != nil {
		return nil
	}
	return r
}

// checkLists fails when a parsed list is over MaxListValues.
func checkLists(t *testing.T, lists map[string][]string) {
	t.Helper()
	for name, l := range lists {
		if len(l) > MaxListValues {
			t.Fatalf("%s: %d values accepted, the limit is %d", name, len(l), MaxListValues)
		}
	}
}

// FuzzQueryParams parses messages.json and posts.json queries: no panic,
// and an accepted query is within the list and page caps.
func FuzzQueryParams(f *testing.F) {
	for _, q := range []string{
		"", "pagination=0", "pagination=1001&page=2", "addresses=0xA,0xB&tags=a,,b&hashes=" + strings.Repeat("a", 64),
		"msgType=POST&msgTypes=POST,AGGREGATE", "msgStatuses=processed,nope", "startDate=1.5&endDate=1",
		"chains=ETH,SOL&paymentTypes=hold", "cursor=&pagination=500", "sortBy=tx-time&cursor=x",
		"refs[]=a&refs[]=b,c", "contentTypes=" + strings.Repeat("x,", 1001), "types=a&channels=%2C%2C",
		"page=-1", "pagination=99999999999999999999", "sortOrder=1&startBlock=5&endBlock=2",
	} {
		f.Add(q)
	}
	s := New(Config{})
	f.Fuzz(func(t *testing.T, q string) {
		r := queryRequest("/api/v0/messages.json", q)
		if r == nil {
			return
		}
		p := newParams(r)
		mq := parseMessageQuery(p)
		size := p.pageSize(defaultPagination)
		if p.err == nil {
			m := &mq.filter
			checkLists(t, map[string][]string{"hashes": m.Hashes, "addresses": m.Addresses, "owners": m.Owners,
				"refs": m.Refs, "contentHashes": m.ContentHashes, "contentKeys": m.ContentKeys,
				"contentTypes": m.ContentTypes, "channels": m.Channels, "tags": m.Tags, "chains": m.Chains,
				"paymentTypes": m.PaymentTypes})
			if len(m.Types) > 2*MaxListValues || len(m.Statuses) > MaxListValues {
				t.Fatalf("%d types, %d statuses", len(m.Types), len(m.Statuses))
			}
			if size < 1 || size > MaxPageSize {
				t.Fatalf("page size %d accepted", size)
			}
		}
		r = queryRequest("/api/v0/posts.json", q)
		w := httptest.NewRecorder()
		pf, _, ok := parsePostQuery(w, r, s)
		if !ok {
			if w.Code < 400 || w.Code >= 500 {
				t.Fatalf("posts.json refused with %d", w.Code)
			}
			return
		}
		checkLists(t, map[string][]string{"addresses": pf.Addresses, "hashes": pf.Hashes, "refs": pf.Refs,
			"types": pf.Types, "tags": pf.Tags, "channels": pf.Channels})
		if pf.Pagination < 1 || pf.Pagination > MaxPageSize {
			t.Fatalf("posts page size %d accepted", pf.Pagination)
		}
	})
}

// FuzzWSOptions parses /api/ws0/messages options: no panic, and accepted
// options are within the caps (history below 200 as at the reference).
func FuzzWSOptions(f *testing.F) {
	for _, q := range []string{"", "history=50", "history=199", "history=200", "history=-1", "history=1e3",
		"history=10&addresses=0xA&msgType=POST", "history=0&msgStatuses=forgotten", "tags=" + strings.Repeat("t,", 1001)} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := queryRequest("/api/ws0/messages", q)
		if r == nil {
			return
		}
		p := newParams(r)
		o := parseWSOptions(p)
		if p.err != nil {
			return
		}
		if o.history < 0 || o.history > maxWSHistory {
			t.Fatalf("history %d accepted", o.history)
		}
		m := &o.mq.filter
		checkLists(t, map[string][]string{"hashes": m.Hashes, "addresses": m.Addresses, "refs": m.Refs,
			"channels": m.Channels, "tags": m.Tags, "contentTypes": m.ContentTypes})
	})
}
