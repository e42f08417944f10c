// Package ethrpc is the one Ethereum JSON-RPC client of the chain layer:
// go-ethereum's ethclient with a deadline on every call, and a count of the
// calls that failed, by method and reason, in /metrics. The chain reader,
// the packer and the token follower each hold one (label service), so a
// hung endpoint (an eth_getLogs that never answers) fails the call after
// Timeout instead of stalling the service, which then backs off as after
// any RPC error.
package ethrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultTimeout bounds one call when Options.Timeout is zero: long enough
// for an eth_getLogs over a large block range on a public endpoint.
const DefaultTimeout = 30 * time.Second

// Reasons a call failed, the values of the metric's reason label.
const (
	ReasonTimeout     = "timeout"     // no answer within the timeout
	ReasonUnavailable = "unavailable" // the endpoint could not be reached or answered no JSON-RPC
	ReasonError       = "error"       // the endpoint answered with an error
)

// Options configures a Client.
type Options struct {
	// Chain and Service label the metric (chain="ETH", service="sync").
	Chain, Service string
	// Timeout bounds every call (default DefaultTimeout).
	Timeout time.Duration
}

// Client is an Ethereum JSON-RPC client whose calls each have a deadline.
// It is safe for concurrent use. The methods are those of ethclient.Client
// the chain layer uses; ethereum.NotFound is returned as is and is not a
// failure.
type Client struct {
	c        *ethclient.Client
	timeout  time.Duration
	failures *prometheus.CounterVec
}

// Dial connects to url (http://, ws://; lazily for HTTP).
func Dial(ctx context.Context, url string, o Options) (*Client, error) {
	c, err := ethclient.DialContext(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("rpc %s: %w", url, err)
	}
	return New(c, o), nil
}

// New wraps c.
func New(c *ethclient.Client, o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return &Client{c: c, timeout: o.Timeout,
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aleph_chain_rpc_failures_total",
			Help:        "Failed JSON-RPC calls to a chain, by calling service, method and reason (timeout, unavailable, error).",
			ConstLabels: prometheus.Labels{"chain": o.Chain, "service": o.Service}}, []string{"method", "reason"}),
	}
}

// Register adds the client's metric to reg. Clients of different services
// or chains register side by side.
func (c *Client) Register(reg prometheus.Registerer) error { return reg.Register(c.failures) }

// Close releases the connection.
func (c *Client) Close() { c.c.Close() }

// Timeout is the deadline of one call.
func (c *Client) Timeout() time.Duration { return c.timeout }

// call runs f with the call's deadline and counts its failure. expected
// tells errors that are answers, not failures (nil: only NotFound).
func call[T any](c *Client, ctx context.Context, method string, expected func(error) bool, f func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	v, err := f(cctx)
	if err == nil || errors.Is(err, ethereum.NotFound) || (expected != nil && expected(err)) || ctx.Err() != nil {
		return v, err
	}
	reason := classify(err)
	if reason == ReasonTimeout {
		err = fmt.Errorf("%s: no answer within %v: %w", method, c.timeout, err)
	}
	c.failures.WithLabelValues(method, reason).Inc()
	return v, err
}

// Unavailable tells an error of a call that did not reach the endpoint (or
// got no JSON-RPC answer from it): retrying with other arguments is
// pointless until it is back.
func Unavailable(err error) bool { return err != nil && classify(err) == ReasonUnavailable }

// classify tells why a call failed.
func classify(err error) string {
	var rerr rpc.Error
	var herr rpc.HTTPError
	var nerr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &nerr) && nerr.Timeout()):
		return ReasonTimeout
	case errors.As(err, &rerr):
		return ReasonError
	case errors.As(err, &herr):
		if herr.StatusCode >= 500 {
			return ReasonUnavailable
		}
		return ReasonError
	case errors.As(err, &nerr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return ReasonUnavailable
	default:
		return ReasonError
	}
}

// BlockNumber is eth_blockNumber.
func (c *Client) BlockNumber(ctx context.Context) (uint64, error) {
	return call(c, ctx, "eth_blockNumber", nil, c.c.BlockNumber)
}

// ChainID is eth_chainId.
func (c *Client) ChainID(ctx context.Context) (*big.Int, error) {
	return call(c, ctx, "eth_chainId", nil, c.c.ChainID)
}

// FilterLogs is eth_getLogs.
func (c *Client) FilterLogs(ctx context.Context, q ethereum.FilterQuery) ([]types.Log, error) {
	return call(c, ctx, "eth_getLogs", nil, func(ctx context.Context) ([]types.Log, error) { return c.c.FilterLogs(ctx, q) })
}

// HeaderByNumber is eth_getBlockByNumber (nil: the head).
func (c *Client) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	return call(c, ctx, "eth_getBlockByNumber", nil, func(ctx context.Context) (*types.Header, error) { return c.c.HeaderByNumber(ctx, n) })
}

// HeaderByHash is eth_getBlockByHash.
func (c *Client) HeaderByHash(ctx context.Context, h common.Hash) (*types.Header, error) {
	return call(c, ctx, "eth_getBlockByHash", nil, func(ctx context.Context) (*types.Header, error) { return c.c.HeaderByHash(ctx, h) })
}

// PendingNonceAt is eth_getTransactionCount at "pending".
func (c *Client) PendingNonceAt(ctx context.Context, a common.Address) (uint64, error) {
	return call(c, ctx, "eth_getTransactionCount", nil, func(ctx context.Context) (uint64, error) { return c.c.PendingNonceAt(ctx, a) })
}

// NonceAt is eth_getTransactionCount at the head.
func (c *Client) NonceAt(ctx context.Context, a common.Address) (uint64, error) {
	return call(c, ctx, "eth_getTransactionCount", nil, func(ctx context.Context) (uint64, error) { return c.c.NonceAt(ctx, a, nil) })
}

// EstimateGas is eth_estimateGas.
func (c *Client) EstimateGas(ctx context.Context, m ethereum.CallMsg) (uint64, error) {
	return call(c, ctx, "eth_estimateGas", nil, func(ctx context.Context) (uint64, error) { return c.c.EstimateGas(ctx, m) })
}

// SuggestGasTipCap is eth_maxPriorityFeePerGas.
func (c *Client) SuggestGasTipCap(ctx context.Context) (*big.Int, error) {
	return call(c, ctx, "eth_maxPriorityFeePerGas", nil, c.c.SuggestGasTipCap)
}

// TransactionReceipt is eth_getTransactionReceipt.
func (c *Client) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	return call(c, ctx, "eth_getTransactionReceipt", nil, func(ctx context.Context) (*types.Receipt, error) { return c.c.TransactionReceipt(ctx, h) })
}

// SendTransaction is eth_sendRawTransaction. A pool that already knows the
// transaction, or a nonce already used, are answers the caller handles
// (see KnownTx, NonceTooLow), not failures.
func (c *Client) SendTransaction(ctx context.Context, tx *types.Transaction) error {
	_, err := call(c, ctx, "eth_sendRawTransaction", func(err error) bool { return KnownTx(err) || NonceTooLow(err) },
		func(ctx context.Context) (struct{}, error) { return struct{}{}, c.c.SendTransaction(ctx, tx) })
	return err
}

// KnownTx tells an answer of eth_sendRawTransaction saying the pool holds
// the transaction already.
func KnownTx(err error) bool { return err != nil && strings.Contains(err.Error(), "already known") }

// NonceTooLow tells an answer of eth_sendRawTransaction saying the
// account's nonce is past the transaction's.
func NonceTooLow(err error) bool { return err != nil && strings.Contains(err.Error(), "nonce too low") }
