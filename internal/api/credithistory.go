package api

import (
	"cmp"
	"context"
	"errors"
	"math"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/goaleph/goaleph/internal/economy"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// creditFilter is the reference's CreditHistoryFilterParams: exact matches
// on the history fields (an empty field, the reference's NULL, matches no
// value), presence of an expiry, excluded payment methods (which also
// leave out entries without one, as SQL's NOT IN), a time range, a
// direction, and the billed resource or its message types.
type creditFilter struct {
	eq             map[string]string // field → value
	hasExpiration  *bool
	exclude        []string
	start, end     float64 // 0: none
	hasStart       bool
	hasEnd         bool
	direction      int // 1 incoming, -1 outgoing, 0 both
	resource       *string
	resourceTypes  []message.Type
	resourceTypeOf map[string]message.Type // resource → its message type ("" unknown)
}

// creditField returns a history field of e by the reference's name.
func creditField(e *store.CreditEntry, name string) string {
	switch name {
	case "tx_hash":
		return e.TxHash
	case "token":
		return e.Token
	case "chain":
		return e.Chain
	case "provider":
		return e.Provider
	case "origin":
		return e.Origin
	case "origin_ref":
		return e.OriginRef
	case "payment_method":
		return e.PaymentMethod
	}
	panic("api: no credit history field " + name)
}

// parseCreditFilter reads the filters into p (its first error is kept).
func parseCreditFilter(p *params) *creditFilter {
	f := &creditFilter{eq: map[string]string{}}
	for _, name := range []string{"tx_hash", "token", "chain", "provider", "origin", "origin_ref", "payment_method"} {
		if v, ok := p.get(name); ok {
			f.eq[name] = v
		}
	}
	if p.has("has_expiration") {
		b := p.bool("has_expiration", false)
		f.hasExpiration = &b
	}
	f.exclude = p.list("exclude_payment_method")
	readTime := func(names ...string) (float64, bool) {
		for _, n := range names {
			if s, ok := p.get(n); ok {
				v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
				switch {
				case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
					p.fail("%s: %q is not a Unix timestamp", n, s)
				case v < 0:
					p.fail("%s: timestamp must not be negative", n)
				default:
					return v, true
				}
				return 0, false
			}
		}
		return 0, false
	}
	f.start, f.hasStart = readTime("startDate", "start_date")
	f.end, f.hasEnd = readTime("endDate", "end_date")
	if f.hasStart && f.hasEnd && f.end < f.start {
		p.fail("end date cannot be lower than start date")
	}
	switch d, _ := p.get("direction"); d {
	case "":
	case "incoming":
		f.direction = 1
	case "outgoing":
		f.direction = -1
	default:
		p.fail("direction: %q is not incoming or outgoing", d)
	}
	if v, ok := p.get("resource"); ok {
		f.resource = &v
	}
	types := p.list("resourceTypes")
	if len(types) == 0 {
		types = p.list("resource_types")
	}
	for _, t := range types {
		mt := message.Type(t)
		switch mt {
		case message.TypePost, message.TypeAggregate, message.TypeStore, message.TypeProgram, message.TypeInstance, message.TypeForget:
			f.resourceTypes = append(f.resourceTypes, mt)
		default:
			p.fail("resourceTypes: %q is not a message type", t)
		}
	}
	return f
}

// match tells whether an entry passes the filter.
func (f *creditFilter) match(e *store.CreditEntry) bool {
	for name, v := range f.eq {
		if got := creditField(e, name); got == "" || got != v {
			return false
		}
	}
	if f.hasExpiration != nil && (e.Expiration != 0) != *f.hasExpiration {
		return false
	}
	if len(f.exclude) > 0 && (e.PaymentMethod == "" || slices.Contains(f.exclude, e.PaymentMethod)) {
		return false
	}
	if (f.hasStart && e.Time < f.start) || (f.hasEnd && e.Time > f.end) {
		return false
	}
	if f.direction == 1 && e.Kind != store.CreditGrant || f.direction == -1 && e.Kind != store.CreditExpense {
		return false
	}
	if f.resource != nil && (e.Resource() == "" || e.Resource() != *f.resource) {
		return false
	}
	if len(f.resourceTypes) > 0 && !slices.Contains(f.resourceTypes, f.resourceTypeOf[e.Resource()]) {
		return false
	}
	return true
}

// creditHistory reads the address's whole ledger and keeps what passes f
// (looking up the message types of the resources when f needs them).
func (s *Server) creditHistory(ctx context.Context, address string, f *creditFilter) ([]store.CreditEntry, error) {
	es, err := s.cfg.Store.CreditEntries(ctx, address, math.MaxFloat64)
	if err != nil {
		return nil, err
	}
	if len(f.resourceTypes) > 0 {
		f.resourceTypeOf = map[string]message.Type{}
		for _, e := range es {
			r := e.Resource()
			if _, done := f.resourceTypeOf[r]; done || r == "" {
				continue
			}
			f.resourceTypeOf[r] = ""
			st, err := s.cfg.Store.Status(ctx, r)
			if err == nil && st.Record != nil {
				f.resourceTypeOf[r] = st.Record.Type
			} else if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, err
			}
		}
	}
	return slices.DeleteFunc(es, func(e store.CreditEntry) bool { return !f.match(&e) }), nil
}

// signedCredits is an entry's amount in whole credits, negative for an
// expense (the reference's history sign).
func signedCredits(e *store.CreditEntry) *big.Int {
	v := economy.WholeCredits(e.Amount)
	if e.Kind == store.CreditExpense {
		v.Neg(v)
	}
	return v
}

// The sort keys of the history; the nullable ones (the reference's
// _NULLABLE_SORT_COLUMNS) put entries without a value last in both
// directions, payment_method as PostgreSQL does (last ascending, first
// descending).
var creditSorts = map[string]func(a, b *store.CreditEntry) int{
	"message_timestamp": func(a, b *store.CreditEntry) int { return cmp.Compare(a.Time, b.Time) },
	"amount":            func(a, b *store.CreditEntry) int { return signedCredits(a).Cmp(signedCredits(b)) },
	"expiration_date":   nil, "origin": nil, "tx_hash": nil, "provider": nil, "payment_method": nil,
}

// sortCredits orders es by key (asc or not), then by ref and index in the
// same direction.
func sortCredits(es []store.CreditEntry, key string, asc bool) {
	value := func(e *store.CreditEntry) string {
		switch key {
		case "expiration_date":
			if e.Expiration == 0 {
				return ""
			}
			return strconv.FormatInt(e.Expiration, 10)
		default:
			return creditField(e, key)
		}
	}
	slices.SortStableFunc(es, func(a, b store.CreditEntry) int {
		c := 0
		if by := creditSorts[key]; by != nil {
			c = by(&a, &b)
		} else {
			va, vb := value(&a), value(&b)
			nullsLast := key != "payment_method" || asc
			switch {
			case va == "" && vb == "":
			case va == "" || vb == "":
				if (va == "") == nullsLast {
					return 1
				}
				return -1
			case key == "expiration_date":
				c = cmp.Compare(a.Expiration, b.Expiration)
			default:
				c = strings.Compare(va, vb)
			}
		}
		if c == 0 {
			c = cmp.Or(strings.Compare(a.Ref, b.Ref), cmp.Compare(a.Index, b.Index))
		}
		if !asc {
			c = -c
		}
		return c
	})
}

// addressCreditHistory is GET /api/v0/addresses/{address}/credit_history:
// the reference's GetAccountCreditHistoryResponse, {address,
// credit_history, pagination_page, pagination_total, pagination_per_page},
// every ledger entry of the address (whatever the log clock) with the
// filters of creditFilter, sorted by sort_by (message_timestamp,
// expiration_date, payment_method, amount, origin, tx_hash, provider) in
// sort_order (-1, the default, or 1). No entry is 404. The reference's
// cursor mode is not served (422).
func (s *Server) addressCreditHistory(w http.ResponseWriter, r *http.Request) {
	address := r.PathValue("address")
	p := newParams(r)
	f := parseCreditFilter(p)
	perPage := p.pageSize(0)
	page := p.int("page", 1, 1, 0)
	key, _ := p.get("sort_by")
	if key == "" {
		key = "message_timestamp"
	}
	if _, ok := creditSorts[key]; !ok {
		p.fail("sort_by: %q is not message_timestamp, expiration_date, payment_method, amount, origin, tx_hash or provider", key)
	}
	asc := false
	switch o, _ := p.get("sort_order"); strings.TrimSpace(o) {
	case "", "-1":
	case "1":
		asc = true
	default:
		p.fail("sort_order: %q is not 1 or -1", o)
	}
	if p.has("cursor") {
		p.fail("cursor: cursor pagination of the credit history is not supported; use page")
	}
	if p.err != nil {
		s.failQuery(w, r, p.err)
		return
	}
	es, err := s.creditHistory(r.Context(), address, f)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if len(es) == 0 {
		s.fail(w, r, http.StatusNotFound, errNoCreditHistory)
		return
	}
	sortCredits(es, key, asc)
	lo := min((page-1)*perPage, len(es))
	out := new(jsonw)
	out.WriteByte('{')
	out.strField("address", address)
	out.WriteString(`,"credit_history":[`)
	for i, e := range es[lo:min(lo+perPage, len(es))] {
		if i > 0 {
			out.WriteByte(',')
		}
		writeCreditEntry(out, &e)
	}
	out.WriteByte(']')
	out.pagination(listPageOrder[:3], page, perPage, len(es), "")
	out.WriteByte('}')
	out.send(w, http.StatusOK)
}

// errNoCreditHistory is the 404 of an address without credit entries.
var errNoCreditHistory = errors.New("no credit history found for this address")

// writeCreditEntry writes a CreditHistoryResponseItem: the empty fields
// are null, prices and sizes decimal strings (pydantic's Decimal), the
// counts integers.
func writeCreditEntry(out *jsonw, e *store.CreditEntry) {
	text := func(k, v string) {
		out.key(k)
		out.strOrNull(v)
	}
	number := func(k, v string) {
		out.key(k)
		if v == "" {
			out.WriteString("null")
		} else {
			out.WriteString(v)
		}
	}
	out.WriteByte('{')
	out.key("amount")
	out.WriteString(signedCredits(e).String())
	text("price", e.Price)
	number("bonus_amount", e.BonusAmount)
	text("tx_hash", e.TxHash)
	text("token", e.Token)
	text("chain", e.Chain)
	text("provider", e.Provider)
	text("origin", e.Origin)
	text("origin_ref", e.OriginRef)
	text("payment_method", e.PaymentMethod)
	out.strField("credit_ref", e.Ref)
	out.intField("credit_index", int64(e.Index))
	out.key("expiration_date")
	if e.Expiration == 0 {
		out.WriteString("null")
	} else {
		out.str(pydanticTime(float64(e.Expiration) / 1000))
	}
	out.key("message_timestamp")
	out.str(pydanticTime(e.Time))
	count := e.ExpenseCount
	if _, err := strconv.ParseInt(count, 10, 64); err != nil {
		count = "" // not an integer: none
	}
	number("expense_count", count)
	text("expense_size_mib", e.ExpenseSizeMiB)
	out.WriteByte('}')
}

// addressCreditSummary is GET
// /api/v0/addresses/{address}/credit_history/summary: the reference's
// totals over the filtered history, {address, entry_count, total_amount,
// total_incoming, total_outgoing} (outgoing negative, so total =
// incoming + outgoing), in whole credits; always 200.
func (s *Server) addressCreditSummary(w http.ResponseWriter, r *http.Request) {
	address := r.PathValue("address")
	p := newParams(r)
	f := parseCreditFilter(p)
	if p.err != nil {
		s.failQuery(w, r, p.err)
		return
	}
	es, err := s.creditHistory(r.Context(), address, f)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	in, outgoing := new(big.Int), new(big.Int)
	for i := range es {
		v := signedCredits(&es[i])
		if v.Sign() > 0 {
			in.Add(in, v)
		} else {
			outgoing.Add(outgoing, v)
		}
	}
	out := new(jsonw)
	out.WriteByte('{')
	out.strField("address", address)
	out.intField("entry_count", int64(len(es)))
	out.key("total_amount")
	out.WriteString(new(big.Int).Add(in, outgoing).String())
	out.key("total_incoming")
	out.WriteString(in.String())
	out.key("total_outgoing")
	out.WriteString(outgoing.String())
	out.WriteByte('}')
	out.send(w, http.StatusOK)
}
