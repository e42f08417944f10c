package ethreader

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/goaleph/goaleph/contracts"
	"github.com/goaleph/goaleph/internal/chain/devchain"
	"github.com/goaleph/goaleph/internal/chain/devchain/devchaintest"
)

// limitedSource wraps a real chain client and refuses ranges wider than
// limit blocks, as public RPCs do (error -32005); that refusal is the one
// thing the dev chain does not do by itself.
type limitedSource struct {
	LogSource
	limit  uint64
	widths []uint64
}

func (s *limitedSource) FilterLogs(ctx context.Context, q ethereum.FilterQuery) ([]types.Log, error) {
	w := q.ToBlock.Uint64() - q.FromBlock.Uint64() + 1
	s.widths = append(s.widths, w)
	if w > s.limit {
		return nil, errors.New("query returned more than 10000 results (-32005)")
	}
	return s.LogSource.FilterLogs(ctx, q)
}

func send(t *testing.T, ctx context.Context, c *devchain.Chain, from int, to common.Address, method string, args ...any) {
	t.Helper()
	parsed, err := abi.JSON(strings.NewReader(contracts.SyncABI))
	if err != nil {
		t.Fatal(err)
	}
	data, err := parsed.Pack(method, args...)
	if err != nil {
		t.Fatal(err)
	}
	cl := c.Client()
	acct := c.Accounts()[from]
	nonce, err := cl.PendingNonceAt(ctx, acct.Address)
	if err != nil {
		t.Fatal(err)
	}
	head, err := cl.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tx := types.MustSignNewTx(acct.Key, types.LatestSignerForChainID(c.ChainID()), &types.DynamicFeeTx{
		ChainID: c.ChainID(), Nonce: nonce, GasTipCap: big.NewInt(1e9),
		GasFeeCap: new(big.Int).Add(big.NewInt(1e9), new(big.Int).Mul(head.BaseFee, big.NewInt(2))),
		Gas:       300_000, To: &to, Data: data,
	})
	if err := cl.SendTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Mined(ctx, tx); err != nil {
		t.Fatal(err)
	}
}

func TestReaderOnDevChain(t *testing.T) {
	c, ctx := devchaintest.Start(t)
	sync, err := c.DeploySync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	emitter := c.Accounts()[0].Address
	ptr := `{"protocol":"aleph-offchain","version":1,"content":"` + testCID + `"}`
	send(t, ctx, c, 0, sync, "doEmit", ptr)                  // counted
	send(t, ctx, c, 1, sync, "doEmit", ptr)                  // unauthorised emitter
	send(t, ctx, c, 2, sync, "doMessage", "POST", `{"a":1}`) // smart-contract message, anyone
	for range 20 {                                           // empty blocks, so ranges must be split
		c.Commit()
	}
	send(t, ctx, c, 0, sync, "doEmit", "second")
	for range 3 { // confirmations for the last emit
		c.Commit()
	}

	cl, err := ethclient.DialContext(ctx, c.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	src := &limitedSource{LogSource: cl, limit: 4}
	heights := &MemHeights{}
	r, err := New(Config{Chain: "ETH", Contract: sync, Emitters: []common.Address{emitter}, Confirmations: 3, MaxBlockRange: 32}, src, heights)
	if err != nil {
		t.Fatal(err)
	}
	var got []Event
	if err := r.Poll(ctx, func(_ context.Context, evs []Event) error { got = append(got, evs...); return nil }); err != nil {
		t.Fatalf("Poll: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("got %d events, want 3: %+v", len(got), got)
	}
	if got[0].Kind != SyncEvent || got[0].Message != ptr || got[0].Addr != emitter || got[0].Timestamp == 0 {
		t.Errorf("event 0 = %+v", got[0])
	}
	if got[1].Kind != MessageEvent || got[1].MsgType != "POST" || got[1].MsgContent != `{"a":1}` || got[1].Addr != c.Accounts()[2].Address {
		t.Errorf("event 1 = %+v", got[1])
	}
	if got[2].Message != "second" || got[2].Height <= got[1].Height {
		t.Errorf("event 2 = %+v", got[2])
	}
	head, _ := cl.BlockNumber(ctx)
	if h, ok, _ := heights.SyncHeight(ctx, "ETH"); !ok || h != head-3 {
		t.Errorf("synced height %d (%v), want head-3 = %d", h, ok, head-3)
	}
	st := r.Stats()
	// The range halved on errors (and may have grown back since, up to
	// where the source fails again): it is below the maximum.
	if st.Ignored != 1 || st.Events != 3 || st.RPCErrors == 0 || st.LastRange >= 32 {
		t.Errorf("stats %+v: want 1 ignored, 3 events, range halved after errors", st)
	}
	if want := min(32, head-3+1); src.widths[0] != want {
		t.Errorf("first range %d blocks, want %d", src.widths[0], want)
	}

	// Nothing new: a second poll reads nothing and hands nothing over.
	got = nil
	if err := r.Poll(ctx, func(_ context.Context, evs []Event) error { got = append(got, evs...); return nil }); err != nil || len(got) != 0 {
		t.Fatalf("second poll: %v, %d events", err, len(got))
	}

	// A failing handler leaves the height where it was, so the events come again.
	send(t, ctx, c, 0, sync, "doEmit", "third")
	for range 3 {
		c.Commit()
	}
	before, _, _ := heights.SyncHeight(ctx, "ETH")
	boom := errors.New("boom")
	if err := r.Poll(ctx, func(_ context.Context, evs []Event) error {
		if len(evs) > 0 {
			return boom
		}
		return nil
	}); !errors.Is(err, boom) {
		t.Fatalf("Poll with failing handler = %v", err)
	}
	if h, _, _ := heights.SyncHeight(ctx, "ETH"); h >= before+4 {
		t.Fatalf("height advanced past a failed range: %d → %d", before, h)
	}
	got = nil
	if err := r.Poll(ctx, func(_ context.Context, evs []Event) error { got = append(got, evs...); return nil }); err != nil || len(got) != 1 || got[0].Message != "third" {
		t.Fatalf("retry poll: %v, %+v", err, got)
	}
}

// A single block that the RPC cannot serve is an error, not a silent gap.
func TestReaderSingleBlockFailure(t *testing.T) {
	src := &failingSource{head: 10}
	r, err := New(Config{Chain: "ETH", MaxBlockRange: 8}, src, &MemHeights{})
	if err != nil {
		t.Fatal(err)
	}
	err = r.Poll(context.Background(), func(context.Context, []Event) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "block 0") {
		t.Fatalf("Poll = %v, want an error naming block 0", err)
	}
	if st := r.Stats(); st.RPCErrors != 4 || st.LastRange != 1 {
		t.Fatalf("stats %+v, want 4 errors (8, 4, 2, 1 blocks) and range 1", st)
	}
}

type failingSource struct{ head uint64 }

func (s *failingSource) BlockNumber(context.Context) (uint64, error) { return s.head, nil }
func (s *failingSource) FilterLogs(context.Context, ethereum.FilterQuery) ([]types.Log, error) {
	return nil, errors.New("unavailable")
}

func TestDecodeRejects(t *testing.T) {
	contract := common.HexToAddress("0x166fd4299364B21c7567e163d85D78d2fb2f8Ad5")
	r, err := New(Config{Chain: "ETH", Contract: contract}, &failingSource{}, &MemHeights{})
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]types.Log{
		"no topics":      {Address: contract},
		"other contract": {Address: common.Address{1}, Topics: []common.Hash{r.syncID}},
		"other event":    {Address: contract, Topics: []common.Hash{{9}}},
		"bad data":       {Address: contract, Topics: []common.Hash{r.syncID}, Data: []byte{1, 2, 3}},
		"removed":        {Address: contract, Topics: []common.Hash{r.syncID}, Removed: true},
	} {
		if _, err := r.Decode(&l); !errors.Is(err, ErrNotAlephLog) {
			t.Errorf("%s: %v, want ErrNotAlephLog", name, err)
		}
	}
}
