package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// querier is what reads need: a *sql.DB or a *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// reader implements store.Reader over a querier. counts is nil inside
// write transactions, whose counts must see their own writes.
type reader struct {
	q      querier
	counts *countCache
}

// countCache remembers the totals of filtered list queries until the next
// write transaction commits. An exact COUNT over a large filtered range
// (20,000 messages of one channel) costs several milliseconds; a page of
// results costs a fraction of one. Entries are keyed by the generation of
// the data they were counted on, so a total is never served after a write.
type countCache struct {
	gen atomic.Uint64
	mu  sync.Mutex
	m   map[string]countEntry
}

type countEntry struct {
	gen   uint64
	total int
}

// maxCountEntries bounds the cache; it is emptied when full.
const maxCountEntries = 4096

func newCountCache() *countCache { return &countCache{m: map[string]countEntry{}} }

// invalidate is called after every committed write transaction.
func (c *countCache) invalidate() { c.gen.Add(1) }

// count runs a COUNT query, through the cache when the reader has one.
func (r reader) count(ctx context.Context, query string, args []any) (int, error) {
	c := r.counts
	var key string
	var gen uint64
	if c != nil {
		// The generation is read before the query: if a write commits
		// meanwhile, the entry is stored under an older generation and
		// never served.
		gen = c.gen.Load()
		key = fmt.Sprint(query, args)
		c.mu.Lock()
		e, ok := c.m[key]
		c.mu.Unlock()
		if ok && e.gen == gen {
			return e.total, nil
		}
	}
	var n int
	if err := r.q.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return 0, err
	}
	if c != nil {
		c.mu.Lock()
		if len(c.m) >= maxCountEntries {
			clear(c.m)
		}
		c.m[key] = countEntry{gen: gen, total: n}
		c.mu.Unlock()
	}
	return n, nil
}

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}

// decodeEnvelope reads back an envelope stored by this package. It was
// validated on the way in, so only its JSON is decoded here.
func decodeEnvelope(s string) (*message.Message, error) {
	var m message.Message
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func str(ns sql.NullString) string { return ns.String }

// placeholders returns "?,?,…" with n marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}

func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// scanStrings reads the one text column of every row of a query.
func scanStrings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return store.CollectStrings(rows)
}
