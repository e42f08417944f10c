package economy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/goaleph/goaleph/internal/balances"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// The credit posts of the reference: POSTs of these types, on
// CreditChannel, from a credit sender.
const (
	// CreditSender publishes the credit posts on mainnet (the reference's
	// credit_balances address).
	CreditSender  = "0x2E4454fAD1906c0Ce6e45cBFA05cE898Ac3AC1dC"
	CreditChannel = "ALEPH_CREDIT"

	PostCreditDistribution = "aleph_credit_distribution"
	PostCreditExpense      = "aleph_credit_expense"
	PostCreditTransfer     = "aleph_credit_transfer"
)

// Credit amounts in posts are whole credits. Before the precision cut-off
// (2026-02-02) a credit was worth 100 times less than a cent (100 credits
// per USD); amounts of posts dated before it are multiplied so every lot
// is in today's credits (1,000,000 per USD).
const (
	CreditPrecisionCutoff     = 1769990400
	CreditPrecisionMultiplier = 10000
)

// IsCreditPost tells whether a post type is one of the credit posts.
func IsCreditPost(postType string) bool {
	return postType == PostCreditDistribution || postType == PostCreditExpense || postType == PostCreditTransfer
}

var creditUnit = new(big.Int).Exp(big.NewInt(10), big.NewInt(balances.Decimals), nil)

// ParseCreditPost checks the content of a credit post of type postType from
// a credit sender and returns its ledger entries, positioned at the post's
// time at and referenced by its item hash ref. A malformed content is a
// message.Error with code INVALID_FORMAT naming what is wrong.
//
// A distribution and a transfer from a credit sender grant lots (a credit
// sender's transfer creates credits, as the reference's whitelisted
// transfers do); an expense consumes. Amounts are whole credits, turned into
// base units of 10⁻¹⁸ like every economy amount.
func ParseCreditPost(postType string, raw json.RawMessage, sender, ref string, at float64) ([]store.CreditEntry, error) {
	var entries []store.CreditEntry
	var err error
	switch postType {
	case PostCreditDistribution:
		entries, err = parseDistribution(raw)
	case PostCreditExpense:
		entries, err = parseExpense(raw)
	case PostCreditTransfer:
		entries, err = parseTransfer(raw, sender)
	default:
		return nil, fmt.Errorf("%q is not a credit post type", postType)
	}
	if err != nil {
		return nil, invalidCredit(postType, err)
	}
	mult := new(big.Int).Set(creditUnit)
	if at < CreditPrecisionCutoff {
		mult.Mul(mult, big.NewInt(CreditPrecisionMultiplier))
	}
	for i := range entries {
		entries[i].Ref, entries[i].Index, entries[i].Time = ref, i, at
		entries[i].Amount.Mul(entries[i].Amount, mult)
	}
	return entries, nil
}

func invalidCredit(postType string, err error) error {
	kind := strings.TrimPrefix(postType, "aleph_credit_")
	return message.Errorf(message.CodeInvalidFormat, "invalid credit %s content: %v", kind, err)
}

// fields is a JSON object read field by field.
type fields map[string]json.RawMessage

func object(raw json.RawMessage, what string) (fields, error) {
	var f fields
	if !isObject(raw) || json.Unmarshal(raw, &f) != nil {
		return nil, fmt.Errorf("%s: not an object", what)
	}
	return f, nil
}

func isObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}

func absent(raw json.RawMessage) bool {
	return raw == nil || string(bytes.TrimSpace(raw)) == "null"
}

// str reads a string field; required says whether it may be absent or
// null.
func (f fields) str(name, what string, required bool) (string, error) {
	raw, ok := f[name]
	if !ok || absent(raw) {
		if required {
			return "", fmt.Errorf("%s.%s: missing", what, name)
		}
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", fmt.Errorf("%s.%s: not a string", what, name)
	}
	return s, nil
}

// text returns a checked scalar field as the post wrote it: a string's
// value, a number's digits; "" when absent or null.
func (f fields) text(name string) string {
	raw, ok := f[name]
	if !ok || absent(raw) {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(bytes.TrimSpace(raw))
}

// integer reads a JSON integer (digits only: not 1.0, not "1", not true).
func integer(raw json.RawMessage) (*big.Int, bool) {
	t := string(bytes.TrimSpace(raw))
	if t == "" || strings.ContainsAny(t, ".eE\"") {
		return nil, false
	}
	v, ok := new(big.Int).SetString(t, 10)
	return v, ok
}

// amount reads the required, strictly positive integer amount.
func (f fields) amount(what string) (*big.Int, error) {
	raw, ok := f["amount"]
	if !ok || absent(raw) {
		return nil, fmt.Errorf("%s.amount: missing", what)
	}
	v, ok := integer(raw)
	if !ok {
		return nil, fmt.Errorf("%s.amount: %s is not an integer", what, bytes.TrimSpace(raw))
	}
	if v.Sign() <= 0 {
		return nil, fmt.Errorf("%s.amount: %s is not positive", what, v)
	}
	return v, nil
}

// expiration reads the optional expiration, unix milliseconds; 0 or absent
// is none.
func (f fields) expiration(what string) (int64, error) {
	raw, ok := f["expiration"]
	if !ok || absent(raw) {
		return 0, nil
	}
	v, ok := integer(raw)
	if !ok || !v.IsInt64() || v.Sign() < 0 {
		return 0, fmt.Errorf("%s.expiration: %s is not a time in milliseconds", what, bytes.TrimSpace(raw))
	}
	return v.Int64(), nil
}

// decimal checks an optional (or required) price: a decimal string or a
// number.
func (f fields) decimal(name, what string, required bool) error {
	raw, ok := f[name]
	if !ok || absent(raw) {
		if required {
			return fmt.Errorf("%s.%s: missing", what, name)
		}
		return nil
	}
	s := string(bytes.TrimSpace(raw))
	if strings.HasPrefix(s, `"`) {
		if json.Unmarshal(raw, &s) != nil {
			return fmt.Errorf("%s.%s: not a string", what, name)
		}
	}
	if _, ok := new(big.Rat).SetString(strings.TrimSpace(s)); !ok || s == "" || s == "true" || s == "false" {
		return fmt.Errorf("%s.%s: %s is not a decimal", what, name, bytes.TrimSpace(raw))
	}
	return nil
}

// credits reads {key: {credits: [...]}} and returns the outer list object
// and the entries (at least one).
func credits(raw json.RawMessage, key string) (fields, []fields, error) {
	top, err := object(raw, "content")
	if err != nil {
		return nil, nil, err
	}
	list, err := object(top[key], key)
	if err != nil {
		return nil, nil, err
	}
	var items []json.RawMessage
	if c := bytes.TrimSpace(list["credits"]); len(c) == 0 || c[0] != '[' || json.Unmarshal(c, &items) != nil {
		return nil, nil, fmt.Errorf("%s.credits: not a list", key)
	}
	if len(items) == 0 {
		return nil, nil, fmt.Errorf("%s.credits: empty", key)
	}
	out := make([]fields, len(items))
	for i, it := range items {
		if out[i], err = object(it, fmt.Sprintf("%s.credits[%d]", key, i)); err != nil {
			return nil, nil, err
		}
	}
	return list, out, nil
}

// entry reads the address and amount every credit entry has.
func entry(f fields, what string, kind string) (store.CreditEntry, error) {
	addr, err := f.str("address", what, true)
	if err == nil && strings.TrimSpace(addr) == "" {
		err = fmt.Errorf("%s.address: empty", what)
	}
	if err != nil {
		return store.CreditEntry{}, err
	}
	amount, err := f.amount(what)
	if err != nil {
		return store.CreditEntry{}, err
	}
	return store.CreditEntry{Address: addr, Kind: kind, Amount: amount}, nil
}

func parseDistribution(raw json.RawMessage) ([]store.CreditEntry, error) {
	list, items, err := credits(raw, "distribution")
	if err != nil {
		return nil, err
	}
	token, err := list.str("token", "distribution", true)
	if err != nil {
		return nil, err
	}
	chain, err := list.str("chain", "distribution", true)
	if err != nil {
		return nil, err
	}
	out := make([]store.CreditEntry, len(items))
	for i, f := range items {
		what := fmt.Sprintf("distribution.credits[%d]", i)
		if out[i], err = entry(f, what, store.CreditGrant); err != nil {
			return nil, err
		}
		if err := f.decimal("price", what, true); err != nil {
			return nil, err
		}
		e := &out[i]
		for _, x := range []struct {
			name     string
			to       *string
			required bool
		}{{"tx_hash", &e.TxHash, true}, {"provider", &e.Provider, true},
			{"origin", &e.Origin, false}, {"ref", &e.OriginRef, false}, {"payment_method", &e.PaymentMethod, false}} {
			if *x.to, err = f.str(x.name, what, x.required); err != nil {
				return nil, err
			}
		}
		e.Price, e.Token, e.Chain = f.text("price"), token, chain
		if b, ok := integer(f["bonus_amount"]); ok {
			e.BonusAmount = b.String() // the reference keeps integer bonuses only
		}
		if out[i].Expiration, err = f.expiration(what); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func parseExpense(raw json.RawMessage) ([]store.CreditEntry, error) {
	_, items, err := credits(raw, "expense")
	if err != nil {
		return nil, err
	}
	out := make([]store.CreditEntry, len(items))
	for i, f := range items {
		what := fmt.Sprintf("expense.credits[%d]", i)
		if out[i], err = entry(f, what, store.CreditExpense); err != nil {
			return nil, err
		}
		// The resource paid for is the execution, else the ref (the
		// reference's effective origin); node_id is its tx_hash.
		e := &out[i]
		for _, x := range []struct {
			name string
			to   *string
		}{{"execution_id", &e.Origin}, {"ref", &e.OriginRef}, {"node_id", &e.TxHash}} {
			if *x.to, err = f.str(x.name, what, false); err != nil {
				return nil, err
			}
		}
		if err := f.decimal("price", what, false); err != nil {
			return nil, err
		}
		e.Price, e.ExpenseCount, e.ExpenseSizeMiB = f.text("price"), f.text("count"), f.text("size")
		e.Provider, e.PaymentMethod = "ALEPH", "credit_expense"
		if c, ok := f["count"]; ok && !absent(c) {
			if v, ok := integer(c); !ok || v.Sign() < 0 {
				return nil, fmt.Errorf("%s.count: %s is not a count", what, bytes.TrimSpace(c))
			}
		}
		for _, name := range []string{"size", "time"} {
			if err := f.decimal(name, what, false); err != nil {
				return nil, err
			}
		}
		if s, ok := f["size"]; ok && bytes.HasPrefix(bytes.TrimSpace(s), []byte("-")) {
			return nil, fmt.Errorf("%s.size: negative", what)
		}
	}
	return out, nil
}

func parseTransfer(raw json.RawMessage, sender string) ([]store.CreditEntry, error) {
	_, items, err := credits(raw, "transfer")
	if err != nil {
		return nil, err
	}
	out := make([]store.CreditEntry, len(items))
	seen := map[string]bool{}
	for i, f := range items {
		what := fmt.Sprintf("transfer.credits[%d]", i)
		if out[i], err = entry(f, what, store.CreditGrant); err != nil {
			return nil, err
		}
		if out[i].Expiration, err = f.expiration(what); err != nil {
			return nil, err
		}
		out[i].Origin, out[i].Provider, out[i].PaymentMethod = sender, "ALEPH", "credit_transfer"
		a := out[i].Address
		if a == sender {
			return nil, fmt.Errorf("%s: self-transfer: the sender %s is the recipient", what, sender)
		}
		if seen[a] {
			return nil, fmt.Errorf("%s: %s is a recipient twice", what, a)
		}
		seen[a] = true
	}
	return out, nil
}

// CreditLot is what remains of one grant.
type CreditLot struct {
	Ref   string
	Index int
	Time  float64
	// Expiration is in unix milliseconds; 0 never expires.
	Expiration int64
	Remaining  *big.Int
}

// live tells whether a lot can still be spent at time t (seconds): it does
// not expire, or expires after t.
func (l *CreditLot) live(t float64) bool {
	return l.Expiration == 0 || float64(l.Expiration) > t*1000
}

// CreditBalance folds the ledger entries of one address up to position at
// (entries dated after it are ignored, whatever order they are given in):
// grants are lots in (time, ref, index) order; an expense consumes the lots
// granted at or before it and not yet expired at its time, first in first
// out (what exceeds them is dropped, as the reference does); the balance is
// what remains of the lots not expired at at. It returns the balance and
// those lots, in FIFO order.
//
// It depends only on the entries and at: a node's clock plays no part.
func CreditBalance(entries []store.CreditEntry, at float64) (*big.Int, []CreditLot) {
	return NewCreditFold(entries).At(at)
}

// CreditFold is CreditBalance at ascending positions: each call folds only
// the entries dated since the previous one, so that a walk over an
// address's whole ledger (the credit collection) reads it once.
type CreditFold struct {
	es   []store.CreditEntry // in fold order
	next int
	lots []CreditLot // granted so far, neither spent nor expired at the last position
}

// NewCreditFold returns the fold of entries (in any order; they are not
// modified), before any position.
func NewCreditFold(entries []store.CreditEntry) *CreditFold {
	es := slices.Clone(entries)
	slices.SortFunc(es, store.CompareCreditEntries)
	return &CreditFold{es: es}
}

// At returns CreditBalance(entries, at): the balance and the live lots in
// FIFO order (the caller may keep them). at must not be less than at the
// previous call.
func (f *CreditFold) At(at float64) (*big.Int, []CreditLot) {
	for ; f.next < len(f.es) && f.es[f.next].Time <= at; f.next++ {
		e := f.es[f.next]
		if e.Kind == store.CreditGrant {
			f.lots = append(f.lots, CreditLot{Ref: e.Ref, Index: e.Index, Time: e.Time, Expiration: e.Expiration, Remaining: new(big.Int).Set(e.Amount)})
			continue
		}
		need := new(big.Int).Set(e.Amount)
		for i := range f.lots {
			if need.Sign() == 0 {
				break
			}
			l := &f.lots[i]
			if l.Remaining.Sign() == 0 || !l.live(e.Time) {
				continue
			}
			take := need
			if l.Remaining.Cmp(need) < 0 {
				take = l.Remaining
			}
			need = new(big.Int).Sub(need, take)
			l.Remaining = new(big.Int).Sub(l.Remaining, take) // lots handed out keep their amount
		}
	}
	// A lot spent or expired at at stays so at every later position.
	f.lots = slices.DeleteFunc(f.lots, func(l CreditLot) bool { return l.Remaining.Sign() == 0 || !l.live(at) })
	total := new(big.Int)
	for _, l := range f.lots {
		total.Add(total, l.Remaining)
	}
	return total, slices.Clone(f.lots)
}

// WholeCredits writes a credit amount in whole credits (lots are whole
// credits, so nothing is lost; a fraction would be floored).
func WholeCredits(v *big.Int) *big.Int {
	return new(big.Int).Quo(v, creditUnit)
}

// UserTransfer turns a transfer from an ordinary account (not a credit
// sender) into ledger entries at position at, as the reference does:
// requested are the parsed recipient entries (ParseCreditPost), ledger the
// sender's entries up to at. The sender must hold the total at at, else
// the transfer is an INVALID_FORMAT error (the reference's code). Each
// recipient's amount is taken from the sender's live lots first in first
// out; every portion becomes a grant to the recipient that expires at the
// earlier of its lot's expiry and the requested one (adjacent portions of
// the same expiry merged), followed by an expense of the sender (origin:
// the recipient). Folding the sender's ledger with those expenses consumes
// exactly the lots the portions came from.
func UserTransfer(requested []store.CreditEntry, sender string, ledger []store.CreditEntry, at float64) ([]store.CreditEntry, error) {
	total := new(big.Int)
	for _, r := range requested {
		total.Add(total, r.Amount)
	}
	balance, lots := CreditBalance(ledger, at)
	if balance.Cmp(total) < 0 {
		return nil, message.Errorf(message.CodeInvalidFormat, "insufficient credit balance for transfer: required %s, available %s",
			WholeCredits(total), WholeCredits(balance))
	}
	var out []store.CreditEntry
	next := 0
	add := func(e store.CreditEntry) {
		e.Index = next
		next++
		out = append(out, e)
	}
	for _, r := range requested {
		need := new(big.Int).Set(r.Amount)
		var portions []store.CreditEntry
		for i := range lots {
			if need.Sign() == 0 {
				break
			}
			l := &lots[i]
			if l.Remaining.Sign() == 0 {
				continue
			}
			take := new(big.Int).Set(need)
			if l.Remaining.Cmp(need) < 0 {
				take.Set(l.Remaining)
			}
			need.Sub(need, take)
			l.Remaining = new(big.Int).Sub(l.Remaining, take)
			exp := l.Expiration
			if exp == 0 || (r.Expiration != 0 && r.Expiration < exp) {
				exp = r.Expiration
			}
			if n := len(portions); n > 0 && portions[n-1].Expiration == exp {
				portions[n-1].Amount.Add(portions[n-1].Amount, take)
				continue
			}
			g := r
			g.Amount, g.Expiration = take, exp
			portions = append(portions, g)
		}
		for _, g := range portions {
			add(g)
		}
		add(store.CreditEntry{Ref: r.Ref, Address: sender, Time: r.Time, Kind: store.CreditExpense, Amount: new(big.Int).Set(r.Amount),
			Origin: r.Address, Provider: "ALEPH", PaymentMethod: "credit_transfer"})
	}
	return out, nil
}
