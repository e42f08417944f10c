package ethcontracts_test

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"

	"github.com/goaleph/goaleph/internal/chain/devchain/devchaintest"
	"github.com/goaleph/goaleph/internal/chain/ethcontracts"
)

// The generated bindings drive the token on a real chain: mint, transfer,
// and the balances and Transfer event they should produce.
func TestTokenBindings(t *testing.T) {
	c, ctx := devchaintest.Start(t)
	addr, err := c.DeployToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok := ethcontracts.NewAlephToken()
	inst := tok.Instance(c.Client(), addr)
	a, b := c.Accounts()[0].Address, c.Accounts()[1].Address
	amount := new(big.Int).Mul(big.NewInt(1000), new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil))

	tx, err := bind.Transact(inst, c.Transactor(0), tok.PackMint(a, amount))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Mined(ctx, tx); err != nil {
		t.Fatal(err)
	}
	tx, err = bind.Transact(inst, c.Transactor(0), tok.PackTransfer(b, big.NewInt(7)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Mined(ctx, tx)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := tok.UnpackTransferEvent(r.Logs[0])
	if err != nil || ev.From != a || ev.To != b || ev.Value.Int64() != 7 {
		t.Fatalf("Transfer event %+v, %v", ev, err)
	}
	bal, err := bind.Call(inst, nil, tok.PackBalanceOf(b), tok.UnpackBalanceOf)
	if err != nil || bal.Int64() != 7 {
		t.Fatalf("balanceOf(b) = %v, %v", bal, err)
	}
	dec, err := bind.Call(inst, nil, tok.PackDecimals(), tok.UnpackDecimals)
	if err != nil || dec != 18 {
		t.Fatalf("decimals = %v, %v", dec, err)
	}
	// Only the deployer mints.
	if _, err := bind.Transact(inst, c.Transactor(1), tok.PackMint(b, amount)); err == nil {
		t.Fatal("mint by a non-minter was accepted")
	}
}
