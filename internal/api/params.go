package api

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/goaleph/goaleph/message"
)

// ---- query parameters -----------------------------------------------------

// params reads query parameters and keeps the first validation error.
type params struct {
	r   *http.Request
	q   url.Values
	err error
}

func newParams(r *http.Request) *params { return &params{r: r, q: r.URL.Query()} }

func (p *params) fail(format string, args ...any) {
	if p.err == nil {
		p.err = fmt.Errorf(format, args...)
	}
}

// has reports whether the parameter is present (even empty).
func (p *params) has(name string) bool {
	_, ok := p.q[name]
	return ok
}

func (p *params) get(name string) (string, bool) {
	v, ok := p.q[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// Query limits. The reference node has none (its HTTP server refuses a
// request line over 8 KiB, which bounds lists by accident); these keep a
// query within what SQLite binds (32,766 variables) and a page within a
// few megabytes. See docs/design/0008-hostile-input.md.
const (
	// MaxListValues is the most values one list parameter (addresses,
	// tags, hashes, refs, channels, …) may hold.
	MaxListValues = 1000
	// MaxPageSize is the largest page of a page-numbered list;
	// pagination=0 (the reference's "no limit") means this size.
	MaxPageSize = 1000
)

// list reads a comma-separated list parameter of at most MaxListValues
// values.
func (p *params) list(name string) []string {
	l := listParam(p.q, name) // parsed once, not once a list
	if len(l) > MaxListValues {
		p.fail("%s: %d values, the limit is %d", name, len(l), MaxListValues)
		return nil
	}
	return l
}

// pageSize reads pagination: 0 (no limit at the reference) is
// MaxPageSize, larger values are refused with the limit named.
func (p *params) pageSize(def int) int {
	n := p.int("pagination", def, 0, MaxPageSize)
	if n == 0 {
		return MaxPageSize
	}
	return n
}

// int reads an integer in [lo, hi] (hi < lo: no upper bound).
func (p *params) int(name string, def, lo, hi int) int {
	s, ok := p.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		p.fail("%s: %q is not an integer", name, s)
		return def
	}
	if n < lo || (hi >= lo && n > hi) {
		if hi >= lo {
			p.fail("%s: %d is not between %d and %d", name, n, lo, hi)
		} else {
			p.fail("%s: %d is less than %d", name, n, lo)
		}
		return def
	}
	return n
}

// float reads a non-negative number.
func (p *params) float(name string) float64 {
	s, ok := p.get(name)
	if !ok || s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		p.fail("%s: %q is not a number", name, s)
		return 0
	}
	if f < 0 {
		p.fail("%s: %v is negative", name, f)
		return 0
	}
	return f
}

// bool reads a boolean the way pydantic does.
func (p *params) bool(name string, def bool) bool {
	s, ok := p.get(name)
	if !ok {
		return def
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "t", "yes", "y", "on":
		return true
	case "0", "false", "f", "no", "n", "off":
		return false
	}
	p.fail("%s: %q is not a boolean", name, s)
	return def
}

// sortOrder reads sortOrder: -1 (newest first, default) or 1.
func (p *params) sortAsc() bool {
	switch s, _ := p.get("sortOrder"); strings.TrimSpace(s) {
	case "", "-1":
		return false
	case "1":
		return true
	default:
		p.fail("sortOrder: %q is not -1 or 1", s)
		return false
	}
}

// dates reads startDate and endDate.
func (p *params) dates() (start, end float64) {
	start, end = p.float("startDate"), p.float("endDate")
	if start > 0 && end > 0 && end < start {
		p.fail("end date cannot be lower than start date")
	}
	return start, end
}

// hashList reads a list of item hashes.
func (p *params) hashList(name string) []string {
	l := p.list(name)
	for _, h := range l {
		if !message.ValidHash(h) {
			p.fail("%s: %q is not an item hash", name, h)
		}
	}
	return l
}

// pathPage reads the page of a /…/page/{page}.json route; ok is false when
// the path is not a page number.
func pathPage(r *http.Request) (page int, present, ok bool) {
	v := r.PathValue("page")
	if v == "" {
		return 0, false, true
	}
	v = strings.TrimSuffix(v, ".json")
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, true, false
	}
	return n, true, true
}
