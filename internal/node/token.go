package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/goaleph/goaleph/internal/chain/erc20"
	"github.com/goaleph/goaleph/internal/chain/ethrpc"
	"github.com/goaleph/goaleph/internal/settings"
	"github.com/goaleph/goaleph/message"
)

// TokenConfig configures the ERC-20 token follower of the core node role
// (chain.ethereum.token.*): off by default; when on, it keeps the balances
// of the token's holders from its Transfer events.
type TokenConfig struct {
	Enabled bool
	// RPC is the JSON-RPC URL of the chain the token is on.
	RPC string
	// Chain names that chain in the balances (default "ETH").
	Chain string
	// Address is the token contract (default: ALEPH on Ethereum mainnet).
	Address string
	// StartHeight is the first block read on a fresh database (the
	// token's deployment block).
	StartHeight int64
	// Confirmations a block needs before its transfers count.
	Confirmations int64
	// PollInterval is the time between polls (default 15 s).
	PollInterval time.Duration
}

func (c *TokenConfig) settings() []*settings.Setting {
	return []*settings.Setting{
		settings.Bool(&c.Enabled, "token-follow", "chain.ethereum.token.enabled", false, "keep token balances from the ERC-20's Transfer events"),
		settings.String(&c.RPC, "token-rpc", "chain.ethereum.token.rpc", "", "JSON-RPC URL of the chain the token is on"),
		settings.String(&c.Chain, "token-chain", "chain.ethereum.token.chain", erc20.DefaultChain, "chain name of the token's balances"),
		settings.String(&c.Address, "token-address", "chain.ethereum.token.address", erc20.DefaultToken, "the ERC-20 contract"),
		settings.Int64(&c.StartHeight, "token-start-height", "chain.ethereum.token.start_height", 0, "first block read on a fresh database (the token's deployment block)"),
		settings.Int64(&c.Confirmations, "token-confirmations", "chain.ethereum.token.confirmations", erc20.DefaultConfirmations, "blocks below the head a block must be for its transfers to count"),
		settings.Duration(&c.PollInterval, "token-poll-interval", "chain.ethereum.token.poll_interval", erc20.DefaultPollInterval, "time between polls of the token's events"),
	}
}

// newTokenFollower builds the token follower of node n: it writes to n's
// store and registers its metrics beside n's. The RPC client is dialled
// lazily (HTTP) and released when the follower stops; each call has
// rpcTimeout (chain.ethereum.rpc_timeout).
func newTokenFollower(ctx context.Context, c TokenConfig, rpcTimeout time.Duration, n *Node) (*erc20.Follower, error) {
	if c.RPC == "" {
		return nil, errors.New("chain.ethereum.token.rpc is not set")
	}
	if c.Address == "" {
		c.Address = erc20.DefaultToken
	}
	if !common.IsHexAddress(c.Address) {
		return nil, fmt.Errorf("chain.ethereum.token.address %q is not an address", c.Address)
	}
	if c.StartHeight < 0 || c.Confirmations < 0 {
		return nil, errors.New("chain.ethereum.token start height and confirmations must not be negative")
	}
	chain := c.Chain
	if chain == "" {
		chain = erc20.DefaultChain
	}
	cl, err := ethrpc.Dial(ctx, c.RPC, ethrpc.Options{Chain: chain, Service: "token", Timeout: rpcTimeout})
	if err != nil {
		return nil, err
	}
	if err := cl.Register(n.metrics.registry); err != nil {
		cl.Close()
		return nil, err
	}
	f := erc20.New(erc20.Config{
		Chain: c.Chain, Token: common.HexToAddress(c.Address), StartHeight: uint64(c.StartHeight),
		Confirmations: uint64(c.Confirmations), PollInterval: c.PollInterval, Logger: n.log,
		Updated: n.balanceUpdates("chain"),
	}, cl, n.store, cl.Close)
	if err := f.Register(n.metrics.registry); err != nil {
		f.Close()
		return nil, err
	}
	n.balanceClock = f.SyncedTime
	return f, nil
}

// balanceUpdates returns the counter of balance rows written by source.
func (n *Node) balanceUpdates(source string) prometheus.Counter {
	return n.handlers[message.TypePost].(posts).balances.updated.WithLabelValues(source)
}
