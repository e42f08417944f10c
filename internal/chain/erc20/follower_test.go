package erc20_test

import (
	"context"
	"errors"
	"math/big"
	"path/filepath"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/goaleph/goaleph/internal/chain/devchain"
	"github.com/goaleph/goaleph/internal/chain/devchain/chaintest"
	"github.com/goaleph/goaleph/internal/chain/erc20"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/sqlite"
)

// tokens returns n whole tokens in base units.
func tokens(n int64) *big.Int { return chaintest.Tokens(n, 0) }

// world is a dev chain with the token deployed and an SQLite store.
type world struct {
	ctx   context.Context
	chain *devchain.Chain
	token common.Address
	db    store.Store
	rpc   *ethclient.Client
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, c, addr := chaintest.Token(t)
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	rpc, err := ethclient.DialContext(ctx, c.URL()) // over HTTP, as a node does
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rpc.Close)
	return &world{ctx: ctx, chain: c, token: addr, db: db, rpc: rpc}
}

func (w *world) account(i int) common.Address { return w.chain.Accounts()[i].Address }

// mined fails the test when a token call failed.
func mined(t *testing.T) func(*types.Receipt, error) *types.Receipt {
	return func(r *types.Receipt, err error) *types.Receipt {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

func (w *world) mint(t *testing.T, to common.Address, amount *big.Int) *types.Receipt {
	return mined(t)(w.chain.Mint(w.ctx, w.token, to, amount))
}

func (w *world) transfer(t *testing.T, from int, to common.Address, amount *big.Int) *types.Receipt {
	return mined(t)(w.chain.Transfer(w.ctx, w.token, from, to, amount))
}

func (w *world) follower(conf uint64) *erc20.Follower {
	return erc20.New(erc20.Config{Token: w.token, Confirmations: conf}, w.rpc, w.db, nil)
}

// balance returns the stored ETH balance of a (nil when none).
func (w *world) balance(t *testing.T, a common.Address) *big.Int {
	t.Helper()
	rows, err := w.db.Balances(w.ctx, a.Hex())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Chain == "ETH" && r.Dapp == "" {
			return r.Amount
		}
	}
	return nil
}

func (w *world) wantBalance(t *testing.T, a common.Address, want *big.Int) {
	t.Helper()
	got := w.balance(t, a)
	if (got == nil) != (want == nil) || (got != nil && got.Cmp(want) != 0) {
		t.Fatalf("balance of %s = %v, want %v", a.Hex(), got, want)
	}
}

func TestFollowTransfers(t *testing.T) {
	w := newWorld(t)
	a, b, c := w.account(1), w.account(2), w.account(3)
	w.mint(t, a, tokens(1000))
	w.transfer(t, 1, b, chaintest.Tokens(250, 1)) // 250.000000000000000001
	f := w.follower(0)
	if err := f.Poll(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.wantBalance(t, a, chaintest.Tokens(749, 1e18-1))
	w.wantBalance(t, b, chaintest.Tokens(250, 1))
	w.wantBalance(t, common.Address{}, nil) // mints do not make the zero address negative

	// Later transfers add to what is stored, also after a restart (a new
	// follower on the same store resumes from the stored position).
	r := w.transfer(t, 2, c, tokens(50))
	if err := w.follower(0).Poll(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.wantBalance(t, b, chaintest.Tokens(200, 1))
	w.wantBalance(t, c, tokens(50))
	rows, _ := w.db.Balances(w.ctx, c.Hex())
	if rows[0].Height != int64(r.BlockNumber.Uint64()) {
		t.Fatalf("height of c = %d, want the transfer's block %d", rows[0].Height, r.BlockNumber)
	}
	// Polling again with nothing new changes nothing.
	if err := f.Poll(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.wantBalance(t, c, tokens(50))
}

// TestReorgWithinDepth: a transfer in a block that a reorg drops before it
// has its confirmations never reaches the balances; the transfers of the
// new branch do.
func TestReorgWithinDepth(t *testing.T) {
	w := newWorld(t)
	a, b := w.account(1), w.account(2)
	f := w.follower(2)
	w.mint(t, a, tokens(10))
	w.chain.Commit()
	w.chain.Commit() // the mint has 2 confirmations
	if err := f.Poll(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.wantBalance(t, a, tokens(10))

	head, err := w.rpc.HeaderByNumber(w.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dropped := w.mint(t, b, tokens(99))
	w.chain.Commit() // one confirmation only
	if err := f.Poll(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.wantBalance(t, b, nil)

	if err := w.chain.Fork(head.Hash()); err != nil {
		t.Fatal(err)
	}
	w.chain.Rollback() // the dropped mint does not come back
	w.mint(t, b, tokens(3))
	w.chain.Commit()
	w.chain.Commit()
	w.chain.Commit()
	if err := f.Poll(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.wantBalance(t, b, tokens(3))
	if got, err := w.rpc.TransactionReceipt(w.ctx, dropped.TxHash); err == nil {
		t.Fatalf("the dropped mint is still on the chain: %+v", got)
	}
}

// TestReorgBelowDepth: when the last applied block leaves the chain, Poll
// says so and changes nothing.
func TestReorgBelowDepth(t *testing.T) {
	w := newWorld(t)
	a := w.account(1)
	f := w.follower(0)
	head, err := w.rpc.HeaderByNumber(w.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.mint(t, a, tokens(5))
	if err := f.Poll(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.wantBalance(t, a, tokens(5))
	if err := w.chain.Fork(head.Hash()); err != nil {
		t.Fatal(err)
	}
	w.chain.Rollback()
	w.chain.Commit()
	w.chain.Commit()
	if err := f.Poll(w.ctx); !errors.Is(err, erc20.ErrReorg) {
		t.Fatalf("Poll after a deep reorg: %v, want ErrReorg", err)
	}
	w.wantBalance(t, a, tokens(5))
}

// narrowRPC fails eth_getLogs over more than max blocks, as providers that
// cap the range do.
type narrowRPC struct {
	*ethclient.Client
	max   uint64
	calls int
}

func (n *narrowRPC) FilterLogs(ctx context.Context, q ethereum.FilterQuery) ([]types.Log, error) {
	n.calls++
	if q.ToBlock.Uint64()-q.FromBlock.Uint64()+1 > n.max {
		return nil, errors.New("query returned more than 10000 results")
	}
	return n.Client.FilterLogs(ctx, q)
}

func TestRangeHalves(t *testing.T) {
	w := newWorld(t)
	a := w.account(1)
	for i := range 4 {
		w.mint(t, a, tokens(int64(i+1)))
	}
	src := &narrowRPC{Client: w.rpc, max: 2}
	f := erc20.New(erc20.Config{Token: w.token, MaxBlockRange: 16}, src, w.db, nil)
	if err := f.Poll(w.ctx); err != nil {
		t.Fatal(err)
	}
	w.wantBalance(t, a, tokens(10))
	// A range of one block that still fails is an error, not a skip.
	src.max = 0
	w.mint(t, a, tokens(1))
	if err := f.Poll(w.ctx); err == nil {
		t.Fatal("Poll skipped a block it could not read")
	}
	w.wantBalance(t, a, tokens(10))
}

// TestHistoryByBlock: one poll reading several blocks writes one history
// row per block that changed a holder's balance, dated at the block's
// time, so that the balance at a position does not depend on how the
// chain was read.
func TestHistoryByBlock(t *testing.T) {
	w := newWorld(t)
	a, b := w.account(1), w.account(2)
	r1 := w.mint(t, a, tokens(100))
	r2 := w.transfer(t, 1, b, tokens(60))
	f := w.follower(0)
	if f.SyncedTime() != 0 {
		t.Fatalf("synced time %v before a poll, want 0", f.SyncedTime())
	}
	if err := f.Poll(w.ctx); err != nil {
		t.Fatal(err)
	}
	// Read up to the head (no confirmations asked): at least the last
	// transfer's block, at most the head's time now.
	last, err := w.rpc.HeaderByNumber(w.ctx, r2.BlockNumber)
	if err != nil {
		t.Fatal(err)
	}
	head, err := w.rpc.HeaderByNumber(w.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.SyncedTime(); got < float64(last.Time) || got > float64(head.Time) {
		t.Errorf("synced time %v, want between %d and %d", got, last.Time, head.Time)
	}
	w.wantBalance(t, a, tokens(40))
	rows, err := w.db.BalanceHistory(w.ctx, a.Hex(), 1e12)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("history of a: %+v, want a row per block", rows)
	}
	for i, want := range []struct {
		r      *types.Receipt
		amount *big.Int
	}{{r1, tokens(100)}, {r2, tokens(40)}} {
		hdr, err := w.rpc.HeaderByNumber(w.ctx, want.r.BlockNumber)
		if err != nil {
			t.Fatal(err)
		}
		got := rows[i]
		if got.Height != want.r.BlockNumber.Int64() || got.Time != float64(hdr.Time) || got.Amount.Cmp(want.amount) != 0 {
			t.Errorf("history row %d: %+v, want height %d time %d amount %s", i, got, want.r.BlockNumber, hdr.Time, want.amount)
		}
	}
}
