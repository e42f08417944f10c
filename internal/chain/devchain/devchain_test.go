package devchain

import (
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/goaleph/goaleph/contracts"
)

func start(t *testing.T) (*Chain, *ethclient.Client, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	c, err := New(Config{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if !strings.HasPrefix(c.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want http://127.0.0.1:<port>", c.URL())
	}
	cl, err := ethclient.DialContext(ctx, c.URL())
	if err != nil {
		t.Fatalf("dial %s: %v", c.URL(), err)
	}
	t.Cleanup(cl.Close)
	return c, cl, ctx
}

// emit sends doEmit(message) from account 0 over the HTTP client and returns
// its receipt.
func emit(t *testing.T, ctx context.Context, c *Chain, cl *ethclient.Client, sync common.Address, message string) *types.Receipt {
	t.Helper()
	parsed, err := abi.JSON(strings.NewReader(contracts.SyncABI))
	if err != nil {
		t.Fatal(err)
	}
	data, err := parsed.Pack("doEmit", message)
	if err != nil {
		t.Fatal(err)
	}
	from := c.Accounts()[0]
	nonce, err := cl.PendingNonceAt(ctx, from.Address)
	if err != nil {
		t.Fatal(err)
	}
	tip, err := cl.SuggestGasTipCap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	head, err := cl.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	feeCap := new(big.Int).Add(tip, new(big.Int).Mul(head.BaseFee, big.NewInt(2)))
	tx := types.MustSignNewTx(from.Key, types.LatestSignerForChainID(c.ChainID()), &types.DynamicFeeTx{
		ChainID: c.ChainID(), Nonce: nonce, GasTipCap: tip, GasFeeCap: feeCap, Gas: 200_000, To: &sync, Data: data,
	})
	if err := cl.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("send doEmit: %v", err)
	}
	r, err := c.Mined(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func syncLogs(t *testing.T, ctx context.Context, cl *ethclient.Client, sync common.Address) []types.Log {
	t.Helper()
	logs, err := cl.FilterLogs(ctx, ethereum.FilterQuery{
		FromBlock: big.NewInt(0),
		Addresses: []common.Address{sync},
		Topics:    [][]common.Hash{{crypto.Keccak256Hash([]byte(contracts.SyncEventSig))}},
	})
	if err != nil {
		t.Fatalf("eth_getLogs: %v", err)
	}
	return logs
}

func TestEmitOverHTTP(t *testing.T) {
	c, cl, ctx := start(t)
	id, err := cl.ChainID(ctx)
	if err != nil || id.Cmp(c.ChainID()) != 0 {
		t.Fatalf("eth_chainId = %v, %v; want %v", id, err, c.ChainID())
	}
	bal, err := cl.BalanceAt(ctx, c.Accounts()[3].Address, nil)
	if err != nil || bal.Sign() <= 0 {
		t.Fatalf("account 3 balance = %v, %v; want funded", bal, err)
	}
	sync, err := c.DeploySync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := cl.CodeAt(ctx, sync, nil); err != nil || len(code) == 0 {
		t.Fatalf("no code at %s: %v", sync, err)
	}
	const pointer = `{"protocol":"aleph-offchain","version":1,"content":"QmTest"}`
	r := emit(t, ctx, c, cl, sync, pointer)

	logs := syncLogs(t, ctx, cl, sync)
	if len(logs) != 1 {
		t.Fatalf("got %d SyncEvent logs, want 1", len(logs))
	}
	parsed, _ := abi.JSON(strings.NewReader(contracts.SyncABI))
	var ev struct {
		Timestamp *big.Int
		Addr      common.Address
		Message   string
	}
	if err := parsed.UnpackIntoInterface(&ev, "SyncEvent", logs[0].Data); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	if ev.Message != pointer || ev.Addr != c.Accounts()[0].Address || ev.Timestamp.Sign() <= 0 {
		t.Fatalf("event = %+v", ev)
	}
	if logs[0].BlockHash != r.BlockHash || logs[0].TxHash != r.TxHash {
		t.Fatalf("log block/tx %s/%s, receipt %s/%s", logs[0].BlockHash, logs[0].TxHash, r.BlockHash, r.TxHash)
	}
}

func TestForkDropsLog(t *testing.T) {
	c, cl, ctx := start(t)
	sync, err := c.DeploySync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := emit(t, ctx, c, cl, sync, "dropped")
	parent, err := cl.HeaderByNumber(ctx, new(big.Int).Sub(r.BlockNumber, big.NewInt(1)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(syncLogs(t, ctx, cl, sync)); n != 1 {
		t.Fatalf("before fork: %d logs, want 1", n)
	}
	if err := c.Fork(parent.Hash()); err != nil {
		t.Fatalf("Fork: %v", err)
	}
	head, err := cl.BlockNumber(ctx)
	if err != nil || head != parent.Number.Uint64() {
		t.Fatalf("head after fork = %d, %v; want %d", head, err, parent.Number)
	}
	if logs := syncLogs(t, ctx, cl, sync); len(logs) != 0 {
		t.Fatalf("after fork: %d logs, want 0 (%+v)", len(logs), logs)
	}
	// The dropped transaction may come back in the new branch, but never in
	// the dropped block.
	c.Commit()
	c.Commit()
	for _, l := range syncLogs(t, ctx, cl, sync) {
		if l.BlockHash == r.BlockHash {
			t.Fatalf("log still in dropped block %s", r.BlockHash)
		}
	}
}

func TestDevAPIOverHTTP(t *testing.T) {
	c, cl, ctx := start(t)
	rc, err := rpc.DialContext(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	before, err := cl.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var h common.Hash
	if err := rc.CallContext(ctx, &h, "dev_commit"); err != nil {
		t.Fatalf("dev_commit: %v", err)
	}
	head, err := cl.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if head.Number.Uint64() != before+1 || head.Hash() != h {
		t.Fatalf("after dev_commit head %d %s, want %d %s", head.Number, head.Hash(), before+1, h)
	}
	if err := rc.CallContext(ctx, nil, "dev_fork", head.ParentHash); err != nil {
		t.Fatalf("dev_fork: %v", err)
	}
	if n, _ := cl.BlockNumber(ctx); n != before {
		t.Fatalf("after dev_fork head %d, want %d", n, before)
	}
}

func TestBlockInterval(t *testing.T) {
	c, err := New(Config{BlockInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for {
		n, err := c.Client().BlockNumber(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n >= 3 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("only %d blocks sealed", n)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestAccountKeysStable(t *testing.T) {
	a, b := AccountKey(0), AccountKey(0)
	if !a.Equal(b) || AccountKey(1).Equal(a) {
		t.Fatal("account keys are not a function of the index")
	}
}

func TestBadAddr(t *testing.T) {
	if _, err := New(Config{Addr: "nope"}); err == nil {
		t.Fatal("want an error for a bad listen address")
	}
}

// TestDataDir: a chain kept in a directory goes on, after Close and New on
// the same directory, from its last block, with its contracts and
// balances.
func TestDataDir(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := New(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addr, err := c.DeploySync(ctx)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	c.Commit()
	head, err := c.Client().HeaderByNumber(ctx, nil)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c, err = New(Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	again, err := c.Client().HeaderByNumber(ctx, head.Number)
	if err != nil {
		t.Fatal(err)
	}
	if again.Hash() != head.Hash() {
		t.Fatalf("block %v after the restart is %s, want %s", head.Number, again.Hash(), head.Hash())
	}
	if code, err := c.Client().CodeAt(ctx, addr, nil); err != nil || len(code) == 0 {
		t.Fatalf("the contract's code after the restart: %d bytes, %v", len(code), err)
	}
	c.Commit()
	n, err := c.Client().BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != head.Number.Uint64()+1 {
		t.Fatalf("head after a restart and a commit = %d, want %d", n, head.Number.Uint64()+1)
	}
	// A second deployment from account 0 works: its nonce was kept.
	if _, err := c.DeploySync(ctx); err != nil {
		t.Fatal(err)
	}
}
