package api

import (
	"cmp"
	"context"
	"errors"
	"math/big"
	"net/http"
	"slices"
	"strings"

	"github.com/goaleph/goaleph/internal/economy"
	"github.com/goaleph/goaleph/internal/store"
)

// Credit balances are read at the log clock (store.Reader.LogClock: the
// latest trusted balance update, credit distribution or expense, or
// confirming block), not at the node's clock: two nodes with the same log
// show the same balances, and a lot counts as expired once the log has
// moved past its expiry.

// creditBalance folds the ledger of address at the log clock: the balance
// in base units, the live lots, and whether the address was ever granted
// credits (the reference lists only addresses that hold lots).
func (s *Server) creditBalance(ctx context.Context, address string, clock float64) (*big.Int, []economy.CreditLot, bool, error) {
	es, err := s.cfg.Store.CreditEntries(ctx, address, clock)
	if err != nil {
		return nil, nil, false, err
	}
	granted := slices.ContainsFunc(es, func(e store.CreditEntry) bool { return e.Kind == store.CreditGrant })
	total, lots := economy.CreditBalance(es, clock)
	return total, lots, granted, nil
}

// creditDetails groups live lots by expiry, as the reference's
// credit_balance_details: never-expiring first, then by expiry; amounts in
// whole credits.
func creditDetails(lots []economy.CreditLot) *jsonw {
	sums := map[int64]*big.Int{}
	for _, l := range lots {
		if sums[l.Expiration] == nil {
			sums[l.Expiration] = new(big.Int)
		}
		sums[l.Expiration].Add(sums[l.Expiration], l.Remaining)
	}
	exps := make([]int64, 0, len(sums))
	for e := range sums {
		exps = append(exps, e)
	}
	slices.Sort(exps) // 0, never expiring, first
	out := new(jsonw)
	out.WriteByte('[')
	for i, e := range exps {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteString(`{"expiration_date":`)
		if e == 0 {
			out.WriteString("null")
		} else {
			out.str(pydanticTime(float64(e) / 1000))
		}
		out.WriteString(`,"amount":`)
		out.WriteString(economy.WholeCredits(sums[e]).String())
		out.WriteByte('}')
	}
	out.WriteByte(']')
	return out
}

// creditPageLimit is the largest page of a cursor-paginated credit
// balance list (the reference's CURSOR_MAX_PAGINATION).
const creditPageLimit = 200

// creditBalances is GET /api/v0/credit_balances?pagination&page&min_balance&cursor:
// the credit balance (whole credits) of every address that was granted
// credits, by address, those below min_balance (≥ 1 when given) left out.
// Page mode answers {credit_balances, pagination_per_page,
// pagination_page, pagination_total, pagination_item}; cursor mode
// (cursor present, empty for the first page) {credit_balances,
// pagination_per_page, next_cursor}, as the reference.
func (s *Server) creditBalances(w http.ResponseWriter, r *http.Request) {
	p := newParams(r)
	perPage := p.pageSize(100)
	page := p.int("page", 1, 1, 0)
	minBalance := big.NewInt(0)
	if v, ok := p.get("min_balance"); ok {
		n, good := new(big.Int).SetString(strings.TrimSpace(v), 10)
		switch {
		case !good:
			p.fail("min_balance: %q is not an integer", v)
		case n.Sign() < 1:
			p.fail("min_balance: %s is less than 1", n)
		default:
			minBalance = n
		}
	}
	cursor, cursorMode := p.get("cursor")
	if !cursorMode && p.has("cursor") {
		cursorMode = true
	}
	var after string
	if cursorMode {
		if p.int("pagination", 100, 0, MaxPageSize) == 0 {
			p.fail("pagination=0 is not allowed with cursor-based pagination")
		}
		perPage = min(perPage, creditPageLimit)
		if cursor != "" {
			a, err := store.DecodeAddressCursor(cursor)
			if err != nil {
				p.fail("cursor: %v", err)
			}
			after = a
		}
	}
	if p.err != nil {
		s.failQuery(w, r, p.err)
		return
	}
	ctx := r.Context()
	clock, err := s.cfg.Store.LogClock(ctx)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	type row struct {
		address string
		credits *big.Int
	}
	var rows []row
	total := 0
	skip := (page - 1) * perPage
	seen := map[string]bool{} // an address stored in two casings is one ledger
	const chunk = 500
	// Page mode reads every address (it counts them all); cursor mode
	// stops after one row more than the page.
scan:
	for {
		addrs, err := s.cfg.Store.CreditAddresses(ctx, after, chunk)
		if err != nil {
			s.fail(w, r, http.StatusInternalServerError, err)
			return
		}
		for _, a := range addrs {
			after = a
			if seen[strings.ToLower(a)] {
				continue
			}
			seen[strings.ToLower(a)] = true
			bal, _, granted, err := s.creditBalance(ctx, a, clock)
			if err != nil {
				s.fail(w, r, http.StatusInternalServerError, err)
				return
			}
			credits := economy.WholeCredits(bal)
			if !granted || credits.Cmp(minBalance) < 0 {
				continue
			}
			if cursorMode {
				rows = append(rows, row{a, credits})
				if len(rows) > perPage {
					break scan
				}
				continue
			}
			if total >= skip && len(rows) < perPage {
				rows = append(rows, row{a, credits})
			}
			total++
		}
		if len(addrs) < chunk {
			break
		}
	}
	next := ""
	if cursorMode && len(rows) > perPage {
		rows = rows[:perPage]
		next = store.EncodeAddressCursor(rows[len(rows)-1].address)
	}
	out := new(jsonw)
	out.WriteString(`{"credit_balances":[`)
	for i, x := range rows {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteByte('{')
		out.strField("address", x.address)
		out.key("credits")
		out.WriteString(x.credits.String())
		out.WriteByte('}')
	}
	out.WriteByte(']')
	if cursorMode {
		out.key("pagination_per_page")
		out.int(int64(perPage))
		out.key("next_cursor")
		out.strOrNull(next)
	} else {
		out.pagination(messagesPageOrder, page, perPage, total, "credit_balances")
	}
	out.WriteByte('}')
	out.send(w, http.StatusOK)
}

// costs is GET /api/v0/costs?address&item_hash&payment_type&include_details&include_size&pagination&page:
// the reference's GetCostsResponse over the cost rows of admitted
// messages. summary totals the matching rows (costs as 18-decimal
// strings; stream and credit per second) and the credits their resources
// consumed (expenses naming them); filters echoes the filters;
// include_details=1 adds a page of resources by item hash with the
// page-number fields, 2 also each resource's cost lines (then address or
// item_hash is required). payment_type defaults to credit, as the
// reference.
func (s *Server) costs(w http.ResponseWriter, r *http.Request) {
	p := newParams(r)
	address, _ := p.get("address")
	itemHash, _ := p.get("item_hash")
	payment := economy.PaymentCredit
	if v, ok := p.get("payment_type"); ok {
		switch v {
		case economy.PaymentHold, economy.PaymentSuperfluid, economy.PaymentCredit:
			payment = v
		default:
			p.fail("payment_type: %q is not hold, superfluid or credit", v)
		}
	}
	details := p.int("include_details", 0, 0, 2)
	withSize := p.bool("include_size", false)
	perPage := p.int("pagination", 100, 10, MaxPageSize)
	page := p.int("page", 1, 1, 0)
	if p.err == nil && details >= 2 && address == "" && itemHash == "" {
		p.fail("include_details=2 requires at least one of 'address' or 'item_hash' filters")
	}
	if p.err != nil {
		s.failQuery(w, r, p.err)
		return
	}
	ctx := r.Context()
	rows, err := s.costRows(ctx, address, itemHash, payment)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	slices.SortFunc(rows, func(a, b store.Cost) int { return cmp.Compare(a.ItemHash, b.ItemHash) })
	hashes := make([]string, len(rows))
	hold, stream, credit := new(big.Int), new(big.Int), new(big.Int)
	for i, c := range rows {
		hashes[i] = c.ItemHash
		hold.Add(hold, c.Hold)
		stream.Add(stream, c.Stream)
		credit.Add(credit, c.Credit)
	}
	consumed, err := s.cfg.Store.CreditsConsumed(ctx, hashes)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	totalConsumed := new(big.Int)
	for _, v := range consumed {
		totalConsumed.Add(totalConsumed, v)
	}
	var pricer Pricer
	if details >= 2 {
		if pricer = s.pricer(w, r); pricer == nil {
			return
		}
	}
	out := new(jsonw)
	out.WriteString(`{"summary":{"total_consumed_credits":`)
	out.WriteString(economy.WholeCredits(totalConsumed).String())
	out.strField("total_cost_hold", economy.FormatCost(hold))
	out.strField("total_cost_stream", economy.FormatCost(stream))
	out.strField("total_cost_credit", economy.FormatCost(credit))
	out.intField("resource_count", int64(len(rows)))
	out.WriteString(`},"filters":{"address":`)
	out.strOrNull(address)
	out.WriteString(`,"item_hash":`)
	out.strOrNull(itemHash)
	out.strField("payment_type", payment)
	out.WriteString(`},"resources":`)
	if details == 0 {
		out.WriteString(`null,"pagination_page":null,"pagination_total":null,"pagination_per_page":null,"pagination_item":null}`)
		out.send(w, http.StatusOK)
		return
	}
	out.WriteByte('[')
	lo := min((page-1)*perPage, len(rows))
	for i, c := range rows[lo:min(lo+perPage, len(rows))] {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteByte('{')
		out.strField("item_hash", c.ItemHash)
		out.strField("owner", c.Owner)
		out.strField("payment_type", c.PaymentType)
		out.key("consumed_credits")
		used := new(big.Int)
		if v := consumed[c.ItemHash]; v != nil {
			used = v
		}
		out.WriteString(economy.WholeCredits(used).String())
		out.strField("cost_hold", economy.FormatCost(c.Hold))
		out.strField("cost_stream", economy.FormatCost(c.Stream))
		out.strField("cost_credit", economy.FormatCost(c.Credit))
		out.key("detail")
		if details < 2 {
			out.WriteString("null")
		} else if err := s.costLines(ctx, out, pricer, c.ItemHash, withSize); err != nil {
			s.priceFailed(w, r, err)
			return
		}
		out.WriteByte('}')
	}
	out.WriteString(`],"pagination_page":`)
	out.int(int64(page))
	out.key("pagination_total")
	out.int(int64(len(rows)))
	out.key("pagination_per_page")
	out.int(int64(perPage))
	out.strField("pagination_item", "resources")
	out.WriteByte('}')
	out.send(w, http.StatusOK)
}

// costRows returns the cost rows matching the filters.
func (s *Server) costRows(ctx context.Context, address, itemHash, payment string) ([]store.Cost, error) {
	var rows []store.Cost
	switch {
	case itemHash != "":
		c, err := s.cfg.Store.Cost(ctx, itemHash)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if address != "" && !strings.EqualFold(c.Owner, address) {
			return nil, nil
		}
		rows = []store.Cost{c}
	case address != "":
		var err error
		if rows, err = s.cfg.Store.Costs(ctx, address); err != nil {
			return nil, err
		}
	default:
		owners, err := s.cfg.Store.CostOwners(ctx, payment)
		if err != nil {
			return nil, err
		}
		for _, o := range owners {
			cs, err := s.cfg.Store.Costs(ctx, o)
			if err != nil {
				return nil, err
			}
			for _, c := range cs {
				if c.Owner == o { // Costs matches owners case-insensitively
					rows = append(rows, c)
				}
			}
		}
	}
	return slices.DeleteFunc(rows, func(c store.Cost) bool { return c.PaymentType != payment }), nil
}

// costLines writes the cost lines of a stored message, priced as GET
// /api/v0/price/{hash} does; size_mib only with withSize.
func (s *Server) costLines(ctx context.Context, out *jsonw, p Pricer, hash string, withSize bool) error {
	st, err := s.cfg.Store.Status(ctx, hash)
	if err != nil {
		return err
	}
	if st.Record == nil {
		out.WriteString("[]")
		return nil
	}
	c, _, err := p.MessagePrice(ctx, st.Record)
	if err != nil {
		return err
	}
	out.WriteByte('[')
	for i, l := range c.Lines {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteByte('{')
		out.costLine(l)
		out.key("size_mib")
		if withSize && l.SizeMiB != nil {
			out.WriteString(sizeMiB(l.SizeMiB))
		} else {
			out.WriteString("null")
		}
		out.WriteByte('}')
	}
	out.WriteByte(']')
	return nil
}

// consumedCredits is GET /api/v0/messages/{item_hash}/consumed_credits:
// {item_hash, consumed_credits}, the whole credits the credit sender's
// expenses billed for the message (0 for none, whatever the hash, as the
// reference).
func (s *Server) consumedCredits(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	used, err := s.cfg.Store.CreditsConsumed(r.Context(), []string{hash})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	total := new(big.Int)
	if v := used[hash]; v != nil {
		total = v
	}
	out := new(jsonw)
	out.WriteByte('{')
	out.strField("item_hash", hash)
	out.key("consumed_credits")
	out.WriteString(economy.WholeCredits(total).String())
	out.WriteByte('}')
	out.send(w, http.StatusOK)
}
