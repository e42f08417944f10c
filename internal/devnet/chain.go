package devnet

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/contracts"
	"github.com/goaleph/goaleph/internal/balances"
	"github.com/goaleph/goaleph/internal/chain/chainsync"
	"github.com/goaleph/goaleph/internal/chain/ethcontracts"
	"github.com/goaleph/goaleph/internal/chain/packer"
	"github.com/goaleph/goaleph/internal/node"
)

// ChainConfig configures the devnet's chain (Config.Chain): the devnet
// deploys the AlephSync contract and the ALEPH token on it, funds a packer
// account and a user account, runs the packer on node 0 and a chain reader
// and a token follower on every node. The zero value of a field means its
// default.
type ChainConfig struct {
	// RPC is the JSON-RPC URL of the chain. Empty: the devnet runs a dev
	// chain itself (the program aleph-devchain, see chainproc.go), with
	// its blocks in <DataDir>/chain.
	RPC string
	// FundedKey is the hex private key of an account funded with ETH on
	// the chain at RPC: it deploys the contracts (it is the token's
	// minter) and pays the ETH given to the packer and user accounts.
	// Required with RPC; the dev chain the devnet runs provides its own.
	FundedKey string
	// CommitDelay is the time between two batches of node 0's packer.
	// Default 10 s.
	CommitDelay time.Duration
	// PollInterval is the time between two reads of the chain by the
	// readers, the token followers and the packer (following its
	// transactions). Default 1 s.
	PollInterval time.Duration
	// Confirmations is how far below the head a block must be for the
	// readers and the token followers to read it. Default 1.
	Confirmations int64
	// BlockInterval is the time between two blocks of the dev chain the
	// devnet runs (unused with RPC). Default 1 s.
	BlockInterval time.Duration
}

// Amounts given to the devnet's accounts by the funded account.
var (
	packerETH = ether(100)  // gas for the packer's doEmit transactions
	userETH   = ether(100)  // gas for the user's own transactions
	userALEPH = ether(1000) // ALEPH has 18 decimals, as ETH
	// RuntimeFunds is what the devnet's own account is given to pay for
	// the runtimes it publishes (the Python runtime's STORE holds about
	// 0.33 ALEPH per MiB).
	RuntimeFunds = ether(1000)
)

// noCutoff is a payment cut-off date that never comes (year 9999).
const noCutoff = 253402300799

func ether(n int64) *big.Int {
	return new(big.Int).Mul(big.NewInt(n), new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil))
}

var defaultChainConfig = ChainConfig{
	CommitDelay: 10 * time.Second, PollInterval: time.Second, Confirmations: 1, BlockInterval: time.Second,
}

// Chain describes the chain of a running devnet (Network.Chain).
type Chain struct {
	RPC     string   // JSON-RPC URL
	ChainID *big.Int // EIP-155 chain id
	// SyncContract and Token are the deployed AlephSync contract and ALEPH
	// ERC-20; SyncHeight and TokenHeight the blocks they were deployed in
	// (where the readers and followers start).
	SyncContract, Token     common.Address
	SyncHeight, TokenHeight uint64
	// Packer is node 0's packer account, the only authorised emitter.
	Packer common.Address
	// UserKey is the hex private key of an account funded with 100 ETH
	// and 1,000 ALEPH (minted to it), for people and tests; User is its
	// address.
	UserKey string
	User    common.Address
	// CommitDelay, PollInterval and Confirmations are the nodes' settings.
	CommitDelay, PollInterval time.Duration
	Confirmations             int64

	minterKey string // the chain's funded key: it deployed the token and mints ALEPH
}

// chainState is what devnet.json keeps of the chain, so that a restart on
// the same chain reuses the contracts and the accounts.
type chainState struct {
	Port         int    `json:"rpc_port,omitempty"` // of the dev chain the devnet runs
	SyncContract string `json:"sync_contract,omitempty"`
	Token        string `json:"token,omitempty"`
	SyncHeight   uint64 `json:"sync_height,omitempty"`
	TokenHeight  uint64 `json:"token_height,omitempty"`
	// DeployBlock is the hash of block SyncHeight: the chain the contracts
	// are on.
	DeployBlock string `json:"deploy_block,omitempty"`
	PackerKey   string `json:"packer_key,omitempty"`
	UserKey     string `json:"user_key,omitempty"`
}

// Chain returns the devnet's chain; nil without Config.Chain.
func (nw *Network) Chain() *Chain { return nw.chain }

// setupChain makes the chain ready before the nodes are created: starts
// the dev chain when no RPC is given, deploys the contracts and funds the
// accounts unless st (from devnet.json) describes contracts still on this
// chain, and sets nw.chainRole to configure every node's chain services.
// It returns the state to keep in devnet.json.
func (nw *Network) setupChain(ctx context.Context, dir string, st *chainState) (*chainState, error) {
	cfg := &nw.cfg
	cc := *cfg.Chain
	if cc.CommitDelay <= 0 {
		cc.CommitDelay = defaultChainConfig.CommitDelay
	}
	if cc.PollInterval <= 0 {
		cc.PollInterval = defaultChainConfig.PollInterval
	}
	if cc.Confirmations <= 0 {
		cc.Confirmations = defaultChainConfig.Confirmations
	}
	if cc.BlockInterval <= 0 {
		cc.BlockInterval = defaultChainConfig.BlockInterval
	}
	if st == nil {
		st = &chainState{}
	}
	if cc.RPC == "" {
		p, err := startChainProcess(ctx, dir, st.Port, cc.BlockInterval, cfg.Logger)
		if err != nil {
			return nil, err
		}
		nw.chainProc = p
		cc.RPC, cc.FundedKey, st.Port = p.RPC, p.FundedKey, p.Port
	} else if cc.FundedKey == "" {
		return nil, errors.New("devnet: Chain.FundedKey is needed with Chain.RPC")
	}
	cl, err := ethclient.DialContext(ctx, cc.RPC)
	if err != nil {
		return nil, fmt.Errorf("devnet: chain %s: %w", cc.RPC, err)
	}
	defer cl.Close()
	chainID, err := cl.ChainID(ctx)
	if err != nil {
		return nil, fmt.Errorf("devnet: chain %s: %w", cc.RPC, err)
	}
	if !deployed(ctx, cl, st) {
		if st.SyncContract != "" {
			cfg.Logger.Warn("devnet: the contracts devnet.json names are not on this chain: deploying them again; "+
				"the nodes keep what they read of the old chain (remove the data directory to start afresh)",
				"sync_contract", st.SyncContract)
		}
		if *st, err = deployChain(ctx, cl, chainID, cc.FundedKey, st.Port); err != nil {
			return nil, err
		}
	}
	pk, err := packer.Address(st.PackerKey)
	if err != nil {
		return nil, err
	}
	uk, err := packer.ParseKey(st.UserKey)
	if err != nil {
		return nil, err
	}
	nw.chain = &Chain{RPC: cc.RPC, ChainID: chainID,
		SyncContract: common.HexToAddress(st.SyncContract), Token: common.HexToAddress(st.Token),
		SyncHeight: st.SyncHeight, TokenHeight: st.TokenHeight, Packer: pk,
		UserKey: st.UserKey, User: crypto.PubkeyToAddress(uk.PublicKey),
		CommitDelay: cc.CommitDelay, PollInterval: cc.PollInterval, Confirmations: cc.Confirmations,
		minterKey: cc.FundedKey}
	nw.chainRole = nw.chain.configure(st.PackerKey)
	return st, nil
}

// configure returns what sets node i's chain services: a reader of the
// sync contract that accepts the packer's events, a token follower, and on
// node 0 the packer.
func (c *Chain) configure(packerKey string) func(i int, rc *node.RoleConfig) {
	return func(i int, rc *node.RoleConfig) {
		rc.Chain = chainsync.Config{RPC: c.RPC, SyncContract: c.SyncContract.Hex(), Emitters: []string{c.Packer.Hex()},
			Confirmations: c.Confirmations, StartHeight: int64(c.SyncHeight), PollInterval: c.PollInterval,
			RetryBase: c.PollInterval, MaxBackoff: 30 * c.PollInterval}
		rc.Token = node.TokenConfig{Enabled: true, RPC: c.RPC, Address: c.Token.Hex(), StartHeight: int64(c.TokenHeight),
			Confirmations: c.Confirmations, PollInterval: c.PollInterval}
		// The accounts can be funded on this chain: the nodes refuse what
		// their owners cannot pay for, as a public network does. Hold pays
		// for every message, though (no cut-off): a devnet has no way to
		// distribute credits yet.
		rc.Node.Economy.Quota = true
		rc.Node.Economy.HoldCutoff, rc.Node.Economy.CreditOnlyCutoff = noCutoff, noCutoff
		if i == 0 {
			rc.Packer = packer.Config{Key: packerKey, CommitDelay: c.CommitDelay, FollowInterval: c.PollInterval,
				RetryBase: c.PollInterval, MaxBackoff: 30 * c.PollInterval}
		}
	}
}

// Fund mints amount ALEPH base units to the account to and waits until the
// transaction is mined: the devnet funds what it posts itself this way
// (its nodes enforce quotas). The nodes see it once their token followers
// have read the block.
func (c *Chain) Fund(ctx context.Context, to common.Address, amount *big.Int) error {
	token := ethcontracts.NewAlephToken()
	return c.transact(ctx, c.minterKey, token.PackMint(to, amount))
}

// Transfer sends amount ALEPH base units from the account of the hex
// private key fromKey (the user key, say) to the account to and waits
// until the transaction is mined.
func (c *Chain) Transfer(ctx context.Context, fromKey string, to common.Address, amount *big.Int) error {
	token := ethcontracts.NewAlephToken()
	return c.transact(ctx, fromKey, token.PackTransfer(to, amount))
}

// transact sends a call of the token contract signed by key and waits for
// it to be mined.
func (c *Chain) transact(ctx context.Context, key string, data []byte) error {
	k, err := packer.ParseKey(key)
	if err != nil {
		return fmt.Errorf("devnet: key: %w", err)
	}
	cl, err := ethclient.DialContext(ctx, c.RPC)
	if err != nil {
		return fmt.Errorf("devnet: chain %s: %w", c.RPC, err)
	}
	defer cl.Close()
	opts := bind.NewKeyedTransactor(k, c.ChainID)
	opts.Context = ctx
	token := ethcontracts.NewAlephToken()
	tx, err := bind.Transact(token.Instance(cl, c.Token), opts, data)
	if err != nil {
		return fmt.Errorf("devnet: token transaction: %w", err)
	}
	_, err = mined(ctx, cl, tx)
	return err
}

// closeChain stops the dev chain the network runs, if any.
func (nw *Network) closeChain() {
	if nw.chainProc != nil {
		if err := nw.chainProc.Close(); err != nil {
			nw.cfg.Logger.Warn("devnet: dev chain", "err", err)
		}
		nw.chainProc = nil
	}
}

// deployed tells whether the contracts st describes are on the chain cl
// reaches: the block they were deployed in is still there and the sync
// contract has code.
func deployed(ctx context.Context, cl *ethclient.Client, st *chainState) bool {
	if st.SyncContract == "" || st.PackerKey == "" || st.UserKey == "" {
		return false
	}
	h, err := cl.HeaderByNumber(ctx, new(big.Int).SetUint64(st.SyncHeight))
	if err != nil || h.Hash().Hex() != st.DeployBlock {
		return false
	}
	code, err := cl.CodeAt(ctx, common.HexToAddress(st.SyncContract), nil)
	return err == nil && len(code) > 0
}

// deployChain deploys AlephSync and the ALEPH token from the funded
// account, makes the packer and user accounts, gives both ETH and the user
// ALEPH, and waits until all of it is mined.
func deployChain(ctx context.Context, cl *ethclient.Client, chainID *big.Int, fundedKey string, port int) (chainState, error) {
	st := chainState{Port: port}
	key, err := packer.ParseKey(fundedKey)
	if err != nil {
		return st, fmt.Errorf("devnet: the chain's funded key: %w", err)
	}
	opts := func() *bind.TransactOpts {
		o := bind.NewKeyedTransactor(key, chainID)
		o.Context = ctx
		return o
	}
	syncAddr, syncTx, err := bind.DeployContract(opts(), common.FromHex(strings.TrimSpace(contracts.SyncBin)), cl, nil)
	if err != nil {
		return st, fmt.Errorf("devnet: deploy AlephSync: %w", err)
	}
	tokenAddr, tokenTx, err := bind.DeployContract(opts(), common.FromHex(strings.TrimSpace(contracts.TokenBin)), cl, nil)
	if err != nil {
		return st, fmt.Errorf("devnet: deploy the ALEPH token: %w", err)
	}
	syncRcpt, err := mined(ctx, cl, syncTx)
	if err != nil {
		return st, err
	}
	tokenRcpt, err := mined(ctx, cl, tokenTx)
	if err != nil {
		return st, err
	}
	packerKey, err := crypto.GenerateKey()
	if err != nil {
		return st, err
	}
	userKey, err := crypto.GenerateKey()
	if err != nil {
		return st, err
	}
	user := crypto.PubkeyToAddress(userKey.PublicKey)
	var txs []*types.Transaction
	for _, f := range []struct {
		to    *ecdsa.PrivateKey
		value *big.Int
	}{{packerKey, packerETH}, {userKey, userETH}} {
		o := opts()
		o.Value = f.value
		o.GasLimit = 21_000 // a plain transfer's (and no estimate, which wants code)
		// A plain transfer: no calldata to an account without code.
		tx, err := bind.NewBoundContract(crypto.PubkeyToAddress(f.to.PublicKey), abi.ABI{}, cl, cl, cl).RawTransact(o, nil)
		if err != nil {
			return st, fmt.Errorf("devnet: fund the accounts with ETH: %w", err)
		}
		txs = append(txs, tx)
	}
	token := ethcontracts.NewAlephToken()
	tx, err := bind.Transact(token.Instance(cl, tokenAddr), opts(), token.PackMint(user, userALEPH))
	if err != nil {
		return st, fmt.Errorf("devnet: mint ALEPH: %w", err)
	}
	for _, tx := range append(txs, tx) {
		if _, err := mined(ctx, cl, tx); err != nil {
			return st, err
		}
	}
	st.SyncContract, st.Token = syncAddr.Hex(), tokenAddr.Hex()
	st.SyncHeight, st.TokenHeight = syncRcpt.BlockNumber.Uint64(), tokenRcpt.BlockNumber.Uint64()
	st.DeployBlock = syncRcpt.BlockHash.Hex()
	st.PackerKey = "0x" + common.Bytes2Hex(crypto.FromECDSA(packerKey))
	st.UserKey = "0x" + common.Bytes2Hex(crypto.FromECDSA(userKey))
	return st, nil
}

// mined waits until tx is mined and checks that it succeeded.
func mined(ctx context.Context, cl *ethclient.Client, tx *types.Transaction) (*types.Receipt, error) {
	r, err := bind.WaitMined(ctx, cl, tx.Hash())
	if err != nil {
		return nil, fmt.Errorf("devnet: wait for transaction %s: %w", tx.Hash(), err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		return nil, fmt.Errorf("devnet: transaction %s reverted", tx.Hash())
	}
	return r, nil
}

// FundAccount makes sure the account address holds at least min ALEPH
// base units, as every node reads it: if node 0 reports less, it mints min
// to it (Chain.Fund), then waits until each node's token follower has read
// it, until ctx ends. The devnet's own messages (its runtimes) are paid
// this way, its nodes enforcing quotas.
func (nw *Network) FundAccount(ctx context.Context, address string, min *big.Int) error {
	if nw.chain == nil {
		return errors.New("devnet: no chain to fund accounts on")
	}
	held := func(n *Node) (bool, error) {
		b, err := client.New(n.APIURL()).Balance(ctx, address, "")
		if err != nil {
			return false, err
		}
		v, err := balances.ParseAmount(b.Balance.String())
		if err != nil {
			return false, fmt.Errorf("devnet: balance of %s: %w", address, err)
		}
		return v.Cmp(min) >= 0, nil
	}
	ok, err := held(nw.nodes[0])
	if err != nil {
		return err
	}
	if !ok {
		if err := nw.chain.Fund(ctx, common.HexToAddress(address), min); err != nil {
			return err
		}
	}
	for _, n := range nw.nodes {
		for {
			ok, err := held(n)
			if err != nil {
				return err
			}
			if ok {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("devnet: node %d does not see the funds of %s: %w", n.index, address, ctx.Err())
			case <-time.After(nw.chain.PollInterval / 4):
			}
		}
	}
	return nil
}
