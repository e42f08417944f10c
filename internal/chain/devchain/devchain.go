// Package devchain runs a local Ethereum chain in-process for devnets and
// tests: go-ethereum's simulated backend (a real EVM, state and log filter)
// behind a real JSON-RPC endpoint over HTTP on 127.0.0.1, so that another
// process (an `aleph node run`) can use it like any EVM RPC.
//
// Blocks are sealed on demand (Commit) or on a short interval; Fork moves the
// head back to an earlier block for reorg tests. The accounts are derived
// from a fixed seed and funded at genesis, so a devnet can print a funded key.
//
// The package links go-ethereum's full node (tens of MB): import it only from
// tests and the devnet, never from the node's normal code path.
package devchain

import (
	"context"
	"crypto/ecdsa"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/rawdb"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	ethsvc "github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/catalyst"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/goaleph/goaleph/contracts"
)

// ErrClosed is returned by calls on a chain after Close.
var ErrClosed = errors.New("devchain: closed")

// Config describes a dev chain. The zero value is usable.
type Config struct {
	// Addr is the host:port the JSON-RPC server listens on; default
	// "127.0.0.1:0" (a free port, see URL).
	Addr string
	// BlockInterval seals a block every interval when > 0; with 0 blocks are
	// sealed only by Commit.
	BlockInterval time.Duration
	// Accounts is how many funded accounts to create; default 10.
	Accounts int
	// Balance is each account's genesis balance in wei; default 1,000,000 ETH.
	Balance *big.Int
	// DataDir, when set, keeps the chain on disk there (every block's
	// state is written, as an archive node does): a chain started again on
	// the same directory goes on from its last block. Empty: in memory.
	DataDir string
}

// Account is a funded account of the dev chain.
type Account struct {
	Address common.Address
	Key     *ecdsa.PrivateKey
}

// KeyHex returns the account's private key as 0x-prefixed hex, the form
// wallets and the CLI accept.
func (a Account) KeyHex() string {
	return "0x" + common.Bytes2Hex(crypto.FromECDSA(a.Key))
}

// Chain is a running dev chain. Its methods are safe for concurrent use.
type Chain struct {
	mu       sync.Mutex // serialises Commit, Fork and Rollback on the beacon
	stack    *node.Node
	beacon   *catalyst.SimulatedBeacon
	eth      *ethsvc.Ethereum
	client   *ethclient.Client
	url      string
	accounts []Account
	chainID  *big.Int

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// AccountKey returns the i-th dev account's key. Keys depend only on i, so
// every dev chain (and every process that knows the index) agrees on them.
func AccountKey(i int) *ecdsa.PrivateKey {
	var seed [40]byte
	copy(seed[:], "goaleph devchain account")
	binary.BigEndian.PutUint64(seed[32:], uint64(i))
	for n := uint64(0); ; n++ {
		h := crypto.Keccak256(seed[:], binary.BigEndian.AppendUint64(nil, n))
		if k, err := crypto.ToECDSA(h); err == nil {
			return k
		}
	}
}

// New starts a dev chain and its HTTP JSON-RPC server. Close stops both.
func New(cfg Config) (*Chain, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Accounts <= 0 {
		cfg.Accounts = 10
	}
	if cfg.Balance == nil {
		cfg.Balance = new(big.Int).Mul(big.NewInt(1_000_000), big.NewInt(params.Ether))
	}
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("devchain: listen address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("devchain: listen port %q is not a port number", portStr)
	}
	c := &Chain{
		chainID: new(big.Int).Set(params.AllDevChainProtocolChanges.ChainID),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	alloc := types.GenesisAlloc{}
	for i := range cfg.Accounts {
		k := AccountKey(i)
		a := Account{Address: crypto.PubkeyToAddress(k.PublicKey), Key: k}
		c.accounts = append(c.accounts, a)
		alloc[a.Address] = types.Account{Balance: new(big.Int).Set(cfg.Balance)}
	}
	if err := c.start(alloc, host, port, cfg.DataDir); err != nil {
		c.closeNode()
		return nil, err
	}
	if cfg.BlockInterval > 0 {
		go c.seal(cfg.BlockInterval)
	} else {
		close(c.done)
	}
	return c, nil
}

// start assembles what go-ethereum's simulated backend does (a node with the
// eth service, a log filter API and a beacon that seals blocks on demand),
// keeping hold of the node so that its HTTP server and the dev API are ours.
func (c *Chain) start(alloc types.GenesisAlloc, host string, port int, dataDir string) error {
	nc := node.DefaultConfig
	nc.DataDir = dataDir // "": in memory
	nc.P2P = p2p.Config{NoDiscovery: true, MaxPeers: 0, ListenAddr: ""}
	nc.HTTPHost = host
	nc.HTTPPort = port
	nc.HTTPModules = []string{"eth", "net", "web3", "dev"}
	nc.HTTPVirtualHosts = []string{"localhost"}
	nc.WSHost = ""
	nc.AuthPort = 0
	stack, err := node.New(&nc)
	if err != nil {
		return fmt.Errorf("devchain: node: %w", err)
	}
	c.stack = stack

	// The dev genesis activates every fork, so the system contracts those
	// forks call must exist from block 0; the funded accounts come on top.
	genesisAlloc := core.SystemContractAllocs()
	maps.Copy(genesisAlloc, alloc)
	ec := ethconfig.Defaults
	ec.Genesis = &core.Genesis{
		Config:   params.AllDevChainProtocolChanges,
		GasLimit: ethconfig.Defaults.Miner.GasCeil,
		Alloc:    genesisAlloc,
	}
	ec.SyncMode = ethconfig.FullSync
	ec.TxPool.NoLocals = true
	// No log search index: eth_getLogs waits until the index has caught up
	// with the head, and with a block every 100 ms on a loaded machine (as
	// under -race) the indexer can fall behind for minutes, so a reader's
	// getLogs hung. A dev chain is small: an unindexed search is fast.
	ec.LogNoHistory = true
	if dataDir != "" {
		// Every block's state on disk, so that a chain killed without
		// Close restarts at its last block (not at the last state geth
		// happened to flush).
		ec.NoPruning = true
		ec.StateScheme = rawdb.HashScheme
	}
	eth, err := ethsvc.New(stack, &ec)
	if err != nil {
		return fmt.Errorf("devchain: eth service: %w", err)
	}
	stack.RegisterAPIs([]rpc.API{
		{Namespace: "eth", Service: filters.NewFilterAPI(filters.NewFilterSystem(eth.APIBackend, filters.Config{}))},
		{Namespace: "dev", Service: &devAPI{c: c}},
	})
	if err := stack.Start(); err != nil {
		return fmt.Errorf("devchain: start: %w", err)
	}
	beacon, err := catalyst.NewSimulatedBeacon(0, common.Address{}, eth)
	if err != nil {
		return fmt.Errorf("devchain: beacon: %w", err)
	}
	c.mu.Lock()
	c.beacon, c.eth = beacon, eth
	c.mu.Unlock()
	// As the simulated backend does: start from genesis as the head (a
	// fresh chain; one restarted from DataDir goes on from its head).
	if eth.BlockChain().CurrentBlock().Number.Sign() == 0 {
		if err := beacon.Fork(eth.BlockChain().GetCanonicalHash(0)); err != nil {
			return fmt.Errorf("devchain: reset to genesis: %w", err)
		}
	}
	c.client = ethclient.NewClient(stack.Attach())
	c.url = stack.HTTPEndpoint()
	return nil
}

func (c *Chain) closeNode() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if c.client != nil {
		c.client.Close()
	}
	if c.beacon != nil {
		err = c.beacon.Stop()
		c.beacon, c.eth = nil, nil
	}
	if c.stack != nil {
		err = errors.Join(err, c.stack.Close())
		c.stack = nil
	}
	return err
}

func (c *Chain) seal(every time.Duration) {
	defer close(c.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.Commit()
		}
	}
}

// Close stops block production, the RPC server and the chain.
func (c *Chain) Close() error {
	var err error
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		err = c.closeNode()
	})
	return err
}

// URL is the HTTP JSON-RPC endpoint, e.g. "http://127.0.0.1:38211".
func (c *Chain) URL() string { return c.url }

// ChainID is the chain's EIP-155 id (1337).
func (c *Chain) ChainID() *big.Int { return new(big.Int).Set(c.chainID) }

// Accounts returns the funded accounts; index 0 deploys the contracts.
func (c *Chain) Accounts() []Account { return append([]Account(nil), c.accounts...) }

// Client is an in-process client of the chain, for the test's own calls.
// Code under test should dial URL instead.
func (c *Chain) Client() *ethclient.Client { return c.client }

// Commit seals the pending transactions into a new block and returns its
// hash. It returns the zero hash after Close.
func (c *Chain) Commit() common.Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.beacon == nil {
		return common.Hash{}
	}
	return c.beacon.Commit()
}

// Fork makes the block parent the head of the chain; the blocks after it
// leave the canonical chain (with their logs) and the next Commit builds on
// parent. Pending transactions must be committed or rolled back first.
// Transactions of the dropped blocks go back to the pool and may be sealed
// again, in a different block, by the next Commit.
func (c *Chain) Fork(parent common.Hash) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.beacon == nil {
		return ErrClosed
	}
	return c.beacon.Fork(parent)
}

// Rollback drops every pending transaction.
func (c *Chain) Rollback() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.beacon != nil {
		c.beacon.Rollback()
	}
}

// SetMinTip sets the least priority fee per gas (wei) a transaction needs
// to be sealed (go-ethereum's default: 0.001 gwei). Transactions that tip
// less stay in the pool, as on a busy chain: a test makes a transaction
// stuck with it.
func (c *Chain) SetMinTip(tip *big.Int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.eth != nil {
		_ = c.eth.Miner().SetGasTip(new(big.Int).Set(tip))
	}
}

// Transactor returns signing options for account i.
func (c *Chain) Transactor(i int) *bind.TransactOpts {
	return bind.NewKeyedTransactor(c.accounts[i].Key, c.ChainID())
}

// Mined waits until the transaction is in a block and returns its receipt.
// With no BlockInterval it commits a block itself.
func (c *Chain) Mined(ctx context.Context, tx *types.Transaction) (*types.Receipt, error) {
	c.commitIfManual()
	r, err := bind.WaitMined(ctx, c.client, tx.Hash())
	if err != nil {
		return nil, fmt.Errorf("devchain: wait for %s: %w", tx.Hash(), err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		return r, fmt.Errorf("devchain: transaction %s reverted", tx.Hash())
	}
	return r, nil
}

func (c *Chain) commitIfManual() {
	select {
	case <-c.done: // no sealing goroutine (or closed)
		c.Commit()
	default:
	}
}

// DeploySync deploys the AlephSync contract from account 0 and waits until
// it is mined.
func (c *Chain) DeploySync(ctx context.Context) (common.Address, error) {
	return c.deploy(ctx, contracts.SyncBin)
}

// DeployToken deploys the AlephToken ERC-20 from account 0 (its minter) and
// waits until it is mined.
func (c *Chain) DeployToken(ctx context.Context) (common.Address, error) {
	return c.deploy(ctx, contracts.TokenBin)
}

func (c *Chain) deploy(ctx context.Context, bin string) (common.Address, error) {
	opts := c.Transactor(0)
	opts.Context = ctx
	addr, tx, err := bind.DeployContract(opts, common.FromHex(strings.TrimSpace(bin)), c.client, nil)
	if err != nil {
		return common.Address{}, fmt.Errorf("devchain: deploy: %w", err)
	}
	if _, err := c.Mined(ctx, tx); err != nil {
		return common.Address{}, err
	}
	return addr, nil
}

// devAPI is the "dev" JSON-RPC namespace, so that another process (a test
// driving an `aleph node run` binary) can seal blocks and cause reorgs.
type devAPI struct{ c *Chain }

// Commit is dev_commit: seal a block now; returns its hash.
func (a *devAPI) Commit() common.Hash { return a.c.Commit() }

// Fork is dev_fork: make the block with this hash the head.
func (a *devAPI) Fork(parent common.Hash) error { return a.c.Fork(parent) }

// Rollback is dev_rollback: drop the pending transactions.
func (a *devAPI) Rollback() { a.c.Rollback() }

// SetMinTip is dev_setMinTip: see Chain.SetMinTip.
func (a *devAPI) SetMinTip(tip *hexutil.Big) { a.c.SetMinTip(tip.ToInt()) }
