package node

import (
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/economy"
	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/message"
)

// onChannel signs content dated at tm on channel.
func onChannel(t testing.TB, a message.Signer, typ message.Type, channel string, tm float64, content map[string]any) *message.Message {
	t.Helper()
	content["address"], content["time"] = a.Address(), tm
	b, err := json.Marshal(content)
	if err != nil {
		t.Fatal(err)
	}
	m, err := message.NewInline(a, typ, channel, string(b), time.UnixMilli(int64(tm*1000)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// distribution is a credit distribution post of n credits to address,
// expiring at expMs (0: never).
func distribution(t testing.TB, sender message.Signer, channel string, tm float64, address string, n int64, expMs int64) *message.Message {
	entry := map[string]any{"address": address, "amount": n, "price": "0.000001", "tx_hash": "0xabc", "provider": "test"}
	if expMs != 0 {
		entry["expiration"] = expMs
	}
	return onChannel(t, sender, message.TypePost, channel, tm, map[string]any{"type": economy.PostCreditDistribution,
		"content": map[string]any{"distribution": map[string]any{"token": "ALEPH", "chain": "ETH", "credits": []any{entry}}}})
}

// TestCreditAdmission: with quotas on, a credit-paid PROGRAM and STORE are
// refused without credits (CREDIT_INSUFFICIENT), accepted after a
// distribution from the credit sender, and a new one is refused once the
// credits have expired at its position. Malformed credit posts from the
// sender are rejected and change nothing; credit posts from anyone else, or
// on another channel, are ordinary posts.
func TestCreditAdmission(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testCreditAdmission(t, "") })
	t.Run("postgres", func(t *testing.T) { testCreditAdmission(t, pgtest.Start(t)) })
}

func testCreditAdmission(t *testing.T, db string) {
	sender, holder, other := ethtest.Account(t), ethtest.Account(t), ethtest.Account(t)
	cfg := Config{Economy: EconomyConfig{Quota: true, CreditSenders: []string{sender.Address()}}}
	cfg.DatabaseURL = db
	n := testNode(t, cfg)
	const t0 = 1780000000.0
	code := storeFile(t, n, holder, "code archive")
	runtime := storeFile(t, n, holder, "runtime image")
	creditProgram := func(tm float64) *message.Message {
		c := program(code.ItemHash, runtime.ItemHash, false, "")
		c["payment"] = map[string]any{"type": "credit"}
		return at(t, holder, message.TypeProgram, tm, c)
	}
	info, err := n.files.Add(context.Background(), files.Native, strings.NewReader("credit-paid file"), files.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.PinUpload(context.Background(), info); err != nil {
		t.Fatal(err)
	}
	creditStore := func(tm float64) *message.Message {
		return at(t, holder, message.TypeStore, tm, map[string]any{"item_type": "storage", "item_hash": info.Hash,
			"payment": map[string]any{"type": "credit"}})
	}
	want := func(what string, m *message.Message, st store.Status, code message.Code) {
		t.Helper()
		got, err := submit(t, n, m, true)
		if got != st || (code != 0 && message.CodeOf(err) != code) {
			t.Fatalf("%s: %s %v, want %s %v", what, got, err, st, code)
		}
	}
	credits := func(tm float64) string {
		t.Helper()
		b, _, err := n.CreditBalance(t.Context(), strings.ToLower(holder.Address()), tm)
		if err != nil {
			t.Fatal(err)
		}
		return economy.WholeCredits(b).String()
	}

	want("credit program without credits", creditProgram(t0+10), store.StatusRejected, message.CodeCreditInsufficient)
	want("credit store without credits", creditStore(t0+11), store.StatusRejected, message.CodeCreditInsufficient)

	// Rejected: a malformed distribution from the sender changes nothing.
	bad := onChannel(t, sender, message.TypePost, economy.CreditChannel, t0+12, map[string]any{"type": economy.PostCreditDistribution,
		"content": map[string]any{"distribution": map[string]any{"token": "ALEPH", "chain": "ETH",
			"credits": []any{map[string]any{"address": holder.Address(), "amount": 1.5, "price": "1", "tx_hash": "0x", "provider": "p"}}}}})
	want("malformed distribution", bad, store.StatusRejected, message.CodeInvalidFormat)
	// Ordinary posts: from another address, or on another channel.
	want("distribution from another address", distribution(t, other, economy.CreditChannel, t0+13, holder.Address(), 1_000_000, 0), store.StatusProcessed, 0)
	want("distribution on another channel", distribution(t, sender, "TEST", t0+14, holder.Address(), 1_000_000, 0), store.StatusProcessed, 0)
	if c := credits(t0 + 15); c != "0" {
		t.Fatalf("credits after the posts that are not credit posts: %s", c)
	}
	want("credit program still without credits", creditProgram(t0+16), store.StatusRejected, message.CodeCreditInsufficient)

	// 1,000,000 credits (1 USD) expiring at t0+1000.
	want("distribution", distribution(t, sender, economy.CreditChannel, t0+20, holder.Address(), 1_000_000, (t0+1000)*1000), store.StatusProcessed, 0)
	if c := credits(t0 + 20); c != "1000000" {
		t.Fatalf("credits after the distribution: %s", c)
	}
	p := creditProgram(t0 + 30)
	want("credit program after the distribution", p, store.StatusProcessed, 0)
	want("credit store after the distribution", creditStore(t0+31), store.StatusProcessed, 0)
	// A message dated before the distribution is decided at its position.
	want("credit program dated before the distribution", creditProgram(t0+19), store.StatusRejected, message.CodeCreditInsufficient)
	// An expense from the sender consumes credits.
	expense := onChannel(t, sender, message.TypePost, economy.CreditChannel, t0+40, map[string]any{"type": economy.PostCreditExpense,
		"content": map[string]any{"expense": map[string]any{"credits": []any{map[string]any{"address": holder.Address(), "amount": 1000, "ref": p.ItemHash}}}}})
	want("expense", expense, store.StatusProcessed, 0)
	if c := credits(t0 + 40); c != "999000" {
		t.Fatalf("credits after the expense: %s", c)
	}
	// Expired at t0+1000: a new credit program is refused.
	if c := credits(t0 + 1000); c != "0" {
		t.Fatalf("credits once expired: %s", c)
	}
	want("credit program after the expiry", creditProgram(t0+1001), store.StatusRejected, message.CodeCreditInsufficient)
	// Another distribution, never expiring, pays for it again; the
	// rejection details give the exact amounts.
	m := creditProgram(t0 + 1002)
	_, err = submit(t, n, m, true)
	var me *message.Error
	if !errors.As(err, &me) || me.Details.(map[string]json.Number)["account_balance"] != "0.0" {
		t.Fatalf("rejection: %v", err)
	}
	want("second distribution", distribution(t, sender, economy.CreditChannel, t0+1003, holder.Address(), 10_000_000, 0), store.StatusProcessed, 0)
	want("credit program after the second distribution", creditProgram(t0+1004), store.StatusProcessed, 0)

	// Forgetting the credit post takes its credits out of the ledger.
	dist := distribution(t, sender, economy.CreditChannel, t0+1005, other.Address(), 7, 0)
	want("third distribution", dist, store.StatusProcessed, 0)
	if b, _, err := n.CreditBalance(t.Context(), other.Address(), t0+2000); err != nil || b.Cmp(new(big.Int).Mul(big.NewInt(7), big.NewInt(1e18))) != 0 {
		t.Fatalf("credits of the third distribution: %v %v", b, err)
	}
	want("forget", onChannel(t, sender, message.TypeForget, economy.CreditChannel, t0+1006, map[string]any{"hashes": []any{dist.ItemHash}}), store.StatusProcessed, 0)
	if b, _, err := n.CreditBalance(t.Context(), other.Address(), t0+2000); err != nil || b.Sign() != 0 {
		t.Fatalf("credits after the forget: %v %v", b, err)
	}
}

// TestUserCreditTransfer: an ordinary account's transfer on the credit
// channel moves its credits first in first out, the recipient's portions
// keeping the earlier of their lot's and the requested expiry; one it
// cannot pay at its position, or to itself, is rejected INVALID_FORMAT and
// changes nothing; forgetting it gives the credits back.
func TestUserCreditTransfer(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testUserCreditTransfer(t, "") })
	t.Run("postgres", func(t *testing.T) { testUserCreditTransfer(t, pgtest.Start(t)) })
}

func testUserCreditTransfer(t *testing.T, db string) {
	sender, alice, bob := ethtest.Account(t), ethtest.Account(t), ethtest.Account(t)
	cfg := Config{Economy: EconomyConfig{CreditSenders: []string{sender.Address()}}}
	cfg.DatabaseURL = db
	n := testNode(t, cfg)
	const t0 = 1780000000.0
	want := func(what string, m *message.Message, st store.Status, code message.Code, reason string) {
		t.Helper()
		got, err := submit(t, n, m, true)
		if got != st || (code != 0 && message.CodeOf(err) != code) || (reason != "" && (err == nil || !strings.Contains(err.Error(), reason))) {
			t.Fatalf("%s: %s %v, want %s %v %q", what, got, err, st, code, reason)
		}
	}
	credits := func(a message.Signer, tm float64) string {
		t.Helper()
		b, _, err := n.CreditBalance(t.Context(), a.Address(), tm)
		if err != nil {
			t.Fatal(err)
		}
		return economy.WholeCredits(b).String()
	}
	transfer := func(from message.Signer, channel string, tm float64, to string, amount int64) *message.Message {
		return onChannel(t, from, message.TypePost, channel, tm, map[string]any{"type": economy.PostCreditTransfer,
			"content": map[string]any{"transfer": map[string]any{"credits": []any{map[string]any{"address": to, "amount": amount}}}}})
	}
	want("distribution", distribution(t, sender, economy.CreditChannel, t0, alice.Address(), 100, 0), store.StatusProcessed, 0, "")
	want("expiring distribution", distribution(t, sender, economy.CreditChannel, t0+1, alice.Address(), 50, (t0+500)*1000), store.StatusProcessed, 0, "")

	tr := transfer(alice, economy.CreditChannel, t0+10, bob.Address(), 120)
	want("transfer", tr, store.StatusProcessed, 0, "")
	// Anyone may date a transfer: it does not move the log clock.
	if clock, err := n.store.LogClock(t.Context()); err != nil || clock != t0+1 {
		t.Fatalf("log clock after a transfer: %v %v, want the last distribution's %v", clock, err, t0+1)
	}
	// Bob got 100 that never expire and 20 of the lot expiring at t0+500.
	for _, c := range []struct {
		who      message.Signer
		at       float64
		expected string
	}{{alice, t0 + 10, "30"}, {bob, t0 + 10, "120"}, {alice, t0 + 500, "0"}, {bob, t0 + 500, "100"}, {alice, t0 + 9, "150"}} {
		if got := credits(c.who, c.at); got != c.expected {
			t.Errorf("credits at %v: %s, want %s", c.at-t0, got, c.expected)
		}
	}
	ledger := func() string {
		t.Helper()
		var b strings.Builder
		for _, a := range []message.Signer{alice, bob} {
			es, err := n.store.CreditEntries(t.Context(), a.Address(), 1e12)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				b.WriteString(e.Ref + " " + e.Kind + " " + e.Amount.String() + "\n")
			}
		}
		return b.String()
	}
	before := ledger()
	want("transfer beyond the balance", transfer(alice, economy.CreditChannel, t0+20, bob.Address(), 31), store.StatusRejected,
		message.CodeInvalidFormat, "insufficient credit balance for transfer: required 31, available 30")
	want("transfer to itself", transfer(alice, economy.CreditChannel, t0+21, alice.Address(), 1), store.StatusRejected,
		message.CodeInvalidFormat, "self-transfer")
	want("bob's transfer dated before he had credits", transfer(bob, economy.CreditChannel, t0+5, alice.Address(), 1), store.StatusRejected,
		message.CodeInvalidFormat, "available 0")
	want("transfer on another channel", transfer(alice, "TEST", t0+22, bob.Address(), 1000), store.StatusProcessed, 0, "")
	if after := ledger(); after != before {
		t.Fatalf("refused transfers changed the ledger:\n%s\nwas\n%s", after, before)
	}
	// Bob passes 50 on: from his never-expiring portion.
	want("bob's transfer", transfer(bob, economy.CreditChannel, t0+30, sender.Address(), 50), store.StatusProcessed, 0, "")
	if got := credits(bob, t0+600); got != "50" {
		t.Fatalf("bob after passing 50 on, at t0+600: %s", got)
	}
	// Forgetting alice's transfer gives her the credits back (bob's own
	// transfer stays: the ledger is a fold, so bob now owes more than he
	// holds and keeps nothing).
	want("forget", onChannel(t, alice, message.TypeForget, economy.CreditChannel, t0+40, map[string]any{"hashes": []any{tr.ItemHash}}), store.StatusProcessed, 0, "")
	if got := credits(alice, t0+41); got != "150" {
		t.Fatalf("alice after the forget: %s", got)
	}
	if got := credits(bob, t0+41); got != "0" {
		t.Fatalf("bob after the forget: %s", got)
	}
}
