package devchain

import (
	"context"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/goaleph/goaleph/internal/chain/ethcontracts"
)

// Mint mints amount base units of the AlephToken at token to to (from
// account 0, its minter) and waits until it is mined.
func (c *Chain) Mint(ctx context.Context, token, to common.Address, amount *big.Int) (*types.Receipt, error) {
	return c.callToken(ctx, token, 0, ethcontracts.NewAlephToken().PackMint(to, amount))
}

// Transfer sends amount base units of the token from account i to to and
// waits until it is mined.
func (c *Chain) Transfer(ctx context.Context, token common.Address, from int, to common.Address, amount *big.Int) (*types.Receipt, error) {
	return c.callToken(ctx, token, from, ethcontracts.NewAlephToken().PackTransfer(to, amount))
}

func (c *Chain) callToken(ctx context.Context, token common.Address, from int, data []byte) (*types.Receipt, error) {
	opts := c.Transactor(from)
	opts.Context = ctx
	tx, err := bind.Transact(ethcontracts.NewAlephToken().Instance(c.client, token), opts, data)
	if err != nil {
		return nil, err
	}
	return c.Mined(ctx, tx)
}
