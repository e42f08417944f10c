package cli

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/chain/eth"
	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute/sandbox"
	"github.com/goaleph/goaleph/internal/devnet"
	_ "github.com/goaleph/goaleph/internal/devnet/devcrn" // the devnet's compute node
	_ "github.com/goaleph/goaleph/internal/devnet/devgw"  // the devnet's gateway
)

func newDevnetCmd(g *globals) *cobra.Command {
	var (
		cfg       devnet.Config
		logLevel  string
		noCompute bool
		noPython  bool
		noChain   bool
		chain     devnet.ChainConfig
		noGateway bool
		noInst    bool
	)
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run a network of core nodes on this machine",
		Long: `Run a network of core nodes in one process: each node has its own data
directory, embedded SQLite database, HTTP API and libp2p host on 127.0.0.1,
and every node is connected to all the others. Messages posted to one node
are gossiped to the others; files stored on one node can be downloaded from
any other.

It prints each node's API URL and peer ID, then runs until Ctrl-C, which
stops every node cleanly. Without --data-dir the state lives in a temporary
directory removed at the end; with --data-dir it is kept in node-<i>/
subdirectories, and a new run keeps the nodes' messages, identities and
(when still free) ports.

The network also runs a compute node (CRN) reading from node 0 (unless
--no-compute), and publishes the runtimes programs run on, signed by a
devnet account whose key is kept in the data directory (devnet-key): the
WASM runtime marker (as aleph program upload --wasm) and the Debian 12
Python runtime of runtimes/debian-12-python (unless --no-python-runtime).
That runtime is built once and cached (about 30 s; it needs root or sudo
and the Debian mirror); without it, only WASM programs can run. The
compute node runs programs on squashfs runtimes in bubblewrap sandboxes
when bwrap and the guest agent aleph-guest (next to this executable, on
PATH, or built from the sources when run from a checkout) are available:
the devnet installs bubblewrap, slirp4netns and squashfs-tools (Debian
packages) when they are missing and it runs as root or with sudo.

The compute node also runs instances (unless --no-instances): INSTANCE
messages, VMs reached by SSH on a port of 127.0.0.1, in QEMU (KVM when
usable, else software emulation). The devnet installs what they need when
it is missing and it runs as root or with sudo (qemu-system-x86, a Debian
kernel, e2fsprogs, squashfs-tools, slirp4netns: Debian packages), builds
the Debian 12 instance image of runtimes/debian-12-instance once (cached,
about 2 min) and publishes it: aleph instance create uses it by default
through ALEPH_DEFAULT_ROOTFS.

The network also runs a local Ethereum chain (unless --no-chain): the dev
chain program aleph-devchain (next to this executable, on PATH, or run
with go run from a checkout, minutes the first time; its blocks are kept
in chain/ of the data directory), a block every second, with the AlephSync contract
and an ALEPH ERC-20 deployed on it. Node 0 anchors the messages on it
every --commit-delay (its packer), every node reads the contract (messages
become confirmed) and follows the token (balances). It prints the chain's
RPC URL, the contracts and a key funded with 100 ETH and 1,000 ALEPH.
It runs a gateway as well (unless --no-gateway): programs answer over HTTPS
at https://<base32 item hash>.devnet.localhost:<port>/, with a wildcard
certificate the gateway gets through DNS-01 (answered by its own DNS server
for the zone) from a local ACME CA, pebble, started with the devnet, a new
CA at each run (its root is written to the data directory). pebble is built
once with go install into the user cache, which needs the Go toolchain the
first time. The devnet prints the curl line that reaches a program.

It ends by printing the export lines that point the aleph commands at the
devnet (ALEPH_API_URL, ALEPH_CRN_URL, ALEPH_DEFAULT_RUNTIME,
ALEPH_DEFAULT_ROOTFS).`,
		Example: `  aleph devnet
  aleph devnet --nodes 5 --data-dir ./devnet
  aleph devnet --no-compute
  aleph devnet --commit-delay 5s
  aleph devnet --collect-grace 2m --collect-period 10s
  aleph --api-url http://127.0.0.1:<port> post create --type note --content '{"body":"hello"}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Nodes < 1 {
				return fmt.Errorf("--nodes must be at least 1")
			}
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = log
			if os.Getenv("GOGC") == "" {
				debug.SetGCPercent(400) // as aleph node run: less GC work per message
			}
			ctx := cmd.Context()
			cfg.Compute = !noCompute
			if !noChain {
				cfg.Chain = &chain
			}
			cfg.Gateway = !noGateway
			if !noCompute {
				// Without bubblewrap the compute node runs WASM programs only.
				if err := sandboxTools(ctx, cmd.ErrOrStderr()); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "devnet: WASM programs only: %v\n", err)
				}
			}
			if !noCompute && !noInst {
				if err := instanceTools(ctx, cmd.ErrOrStderr()); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "devnet: no instances: %v\n", err)
				} else {
					cfg.Instances = true
				}
			}
			nw, err := devnet.Start(ctx, cfg)
			if err != nil {
				return err
			}
			printDevnet(g.out, nw)
			printChain(g.out, nw)
			if !noCompute {
				rts, err := publishRuntimes(ctx, g, nw, !noPython, cfg.Instances, cmd.ErrOrStderr())
				if err != nil {
					nw.Stop()
					return err
				}
				printRuntimes(g.out, nw, rts)
			}
			select {
			case <-ctx.Done():
			case <-nw.Done():
			}
			err = nw.Stop()
			fmt.Fprintln(g.out, "devnet stopped")
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Nodes, "nodes", 3, "number of core nodes")
	f.StringVar(&cfg.DataDir, "data-dir", "", "keep the nodes' state here across runs (default: a temporary directory)")
	f.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	f.BoolVar(&noCompute, "no-compute", false, "run core nodes only: no compute node, no runtimes published")
	f.BoolVar(&noGateway, "no-gateway", false, "run no gateway (nor its local ACME CA)")
	f.BoolVar(&noPython, "no-python-runtime", false, "do not build and publish the Debian 12 Python runtime (WASM programs only)")
	f.BoolVar(&noInst, "no-instances", false, "run no instances: no QEMU backend, no instance image built or published")
	f.BoolVar(&noChain, "no-chain", false, "run no chain: no packer, no confirmations, no token balances")
	f.DurationVar(&chain.CommitDelay, "commit-delay", 10*time.Second, "time between two batches node 0 anchors on the chain")
	f.DurationVar(&cfg.CollectGrace, "collect-grace", 0, "how long (in log time) a message its owner no longer pays for stays removing before it is removed (default the nodes' 25h)")
	f.DurationVar(&cfg.CollectPeriod, "collect-period", 0, "time between the nodes' collection passes (default the nodes' 30m)")
	return cmd
}

// printChain prints the devnet's chain, if any: its RPC URL, the
// contracts, the packer and the funded user key.
func printChain(w io.Writer, nw *devnet.Network) {
	c := nw.Chain()
	if c == nil {
		return
	}
	fmt.Fprintf(w, "chain  rpc %s  (chain id %s)\n", c.RPC, c.ChainID)
	fmt.Fprintf(w, "       sync contract %s  (packer %s on node 0, a batch every %s)\n", c.SyncContract.Hex(), c.Packer.Hex(), c.CommitDelay)
	fmt.Fprintf(w, "       ALEPH token   %s\n", c.Token.Hex())
	fmt.Fprintf(w, "       funded key    %s  (address %s: 100 ETH, 1000 ALEPH)\n", c.UserKey, c.User.Hex())
	fmt.Fprintf(w, "       use it: aleph account import --name devnet --private-key %s --active\n", c.UserKey)
}

func printDevnet(w io.Writer, nw *devnet.Network) {
	fmt.Fprintf(w, "devnet: %d core nodes running (Ctrl-C stops them)\n", len(nw.Nodes()))
	for _, n := range nw.Nodes() {
		fmt.Fprintf(w, "node %d  api %s  peer %s\n", n.Index(), n.APIURL(), n.PeerID())
		if len(n.P2PAddrs()) > 0 {
			fmt.Fprintf(w, "        p2p %s\n", n.P2PAddrs()[0])
		}
		fmt.Fprintf(w, "        data %s\n", n.DataDir())
	}
	if u := nw.ComputeURL(); u != "" {
		fmt.Fprintf(w, "compute node  %s  (programs at %s/vm/<item hash>/)\n", u, u)
	}
	if gw := nw.Gateway(); gw != nil {
		fmt.Fprintf(w, "gateway  https %s  http %s  zone %s (its DNS at %s)\n", gw.HTTPSAddr, gw.HTTPAddr, gw.Zone, gw.DNSAddr)
		fmt.Fprintf(w, "        CA %s (the devnet's ACME CA, new at each run)\n", gw.CAFile)
		if line, err := nw.GatewayCurl(""); err == nil {
			fmt.Fprintf(w, "        a program over HTTPS (<label>: its item hash in base32, as in the host URL aleph program prints):\n        %s\n", line)
		}
	}
}

// devnetRuntimes are the runtimes a devnet published.
type devnetRuntimes struct {
	WASM   string // file hash of the WASM runtime marker
	Python string // item hash of the Debian runtime's STORE, "" if none
	RootFS string // item hash of the instance image's STORE, "" if none
}

// publishRuntimes publishes the WASM marker and, when python is set and
// the image can be built or is cached, the Debian 12 Python runtime, and
// when instances is set the Debian 12 instance image, on node 0 with the
// devnet account.
func publishRuntimes(ctx context.Context, g *globals, nw *devnet.Network, python, instances bool, progress io.Writer) (devnetRuntimes, error) {
	var rts devnetRuntimes
	dir := filepath.Dir(nw.Nodes()[0].DataDir())
	s, err := devnetAccount(dir)
	if err != nil {
		return rts, err
	}
	if nw.Chain() != nil { // the nodes enforce quotas: the runtimes must be paid for
		if err := nw.FundAccount(ctx, s.Address(), devnet.RuntimeFunds); err != nil {
			return rts, fmt.Errorf("fund the devnet account: %w", err)
		}
	}
	c := client.New(nw.Nodes()[0].APIURL(), client.WithUserAgent("goaleph-cli/0.1"))
	dg := *g
	dg.apiURL = nw.Nodes()[0].APIURL()
	if rts.WASM, err = wasmMarker(ctx, &dg, c, s); err != nil {
		return rts, err
	}
	if python {
		if image, err := pythonRuntimeImage(ctx, progress); err != nil {
			fmt.Fprintf(progress, "devnet: no Python runtime, WASM programs only: %v\n", err)
		} else if rts.Python, err = publishImage(ctx, &dg, c, s, dir, image, "the Python runtime", progress); err != nil {
			return rts, err
		}
	}
	if instances {
		if image, err := instanceImage(ctx, progress); err != nil {
			fmt.Fprintf(progress, "devnet: no instance image, no instances: %v\n", err)
		} else if rts.RootFS, err = publishImage(ctx, &dg, c, s, dir, image, "the instance image", progress); err != nil {
			return rts, err
		}
	}
	return rts, nil
}

// devnetAccount loads the devnet's key from dir/devnet-key, creating it
// the first time.
func devnetAccount(dir string) (*eth.Account, error) {
	path := filepath.Join(dir, "devnet-key")
	if b, err := os.ReadFile(path); err == nil {
		return eth.AccountFromHex(strings.TrimSpace(string(b)))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	a, err := eth.NewAccount()
	if err != nil {
		return nil, err
	}
	return a, writeFileAtomic(path, []byte(a.PrivateKeyHex()+"\n"))
}

// pythonRuntimeImage returns the path of the Debian 12 Python runtime's
// squashfs image (see runtimeImage).
func pythonRuntimeImage(ctx context.Context, progress io.Writer) (string, error) {
	return runtimeImage(ctx, "debian-12-python", "the Debian 12 Python runtime", "about 30 s", progress)
}

// runtimeImage returns the path of the squashfs image runtimes/<name>/build.sh
// builds: from its cache, else built by it when the sources are here and
// root (or sudo without a password) is available.
func runtimeImage(ctx context.Context, name, what, takes string, progress io.Writer) (string, error) {
	src := sandbox.SourceDir()
	if src == "" {
		return "", errors.New("not run from a checkout of goaleph: build the image with " +
			"runtimes/" + name + "/build.sh and publish its rootfs.squashfs with aleph file upload")
	}
	script := filepath.Join(src, "runtimes", name, "build.sh")
	b, err := os.ReadFile(script)
	if err != nil {
		return "", err
	}
	// The cache directory, as build.sh names it.
	sum := sha256.Sum256(b)
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(home, ".cache")
	}
	out := filepath.Join(cache, "goaleph", "runtimes", name+"-"+hex.EncodeToString(sum[:])[:12])
	if o := os.Getenv("OUT"); o != "" {
		out = filepath.Join(o, name+"-"+hex.EncodeToString(sum[:])[:12])
	}
	image := filepath.Join(out, "rootfs.squashfs")
	if _, err := os.Stat(image); err == nil {
		return image, nil
	}
	if os.Geteuid() != 0 && exec.CommandContext(ctx, "sudo", "-n", "true").Run() != nil {
		return "", errors.New("building it needs root: run `sudo " + script + "` once (it is cached), then restart the devnet")
	}
	fmt.Fprintf(progress, "devnet: building %s with %s (%s, once: it is cached in %s)\n", what, script, takes, out)
	cmd := exec.CommandContext(ctx, script)
	cmd.Stdout = io.Discard
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintf(progress, "  build.sh: %s\n", sc.Text())
		}
		io.Copy(io.Discard, pr)
	}()
	err = cmd.Run()
	pw.Close()
	if err != nil {
		return "", fmt.Errorf("%s: %w", script, err)
	}
	if _, err := os.Stat(image); err != nil {
		return "", fmt.Errorf("%s did not make %s", script, image)
	}
	return image, nil
}

// publishImage publishes the runtime image with a STORE and returns its
// item hash. The STORE of an image already published from this data
// directory (runtimes.json) is reused.
func publishImage(ctx context.Context, g *globals, c *client.Client, s *eth.Account, dir, image, what string, progress io.Writer) (string, error) {
	f, err := os.Open(image)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return "", err
	}
	fileHash := hex.EncodeToString(h.Sum(nil))
	known := map[string]string{} // file hash: STORE item hash
	statePath := filepath.Join(dir, "runtimes.json")
	if b, err := os.ReadFile(statePath); err == nil {
		_ = json.Unmarshal(b, &known)
	}
	if hash := known[fileHash]; hash != "" {
		if res, err := c.Message(ctx, hash); err == nil && res.Status == client.StatusProcessed {
			return hash, nil
		}
	}
	st, err := os.Stat(image)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(progress, "devnet: publishing %s (%d MB)\n", what, st.Size()>>20)
	res, err := c.StoreFile(ctx, s, image, client.StoreParams{Channel: g.channel, Sync: true, Size: st.Size()})
	if err != nil {
		return "", fmt.Errorf("publish %s: %w", what, err)
	}
	if res.Status != client.StatusProcessed {
		return "", fmt.Errorf("the STORE message %s of %s is %s", res.Message.ItemHash, what, res.Status)
	}
	known[fileHash] = res.Message.ItemHash
	b, _ := json.MarshalIndent(known, "", "  ")
	_ = os.WriteFile(statePath, append(b, '\n'), 0o644)
	return res.Message.ItemHash, nil
}

func printRuntimes(w io.Writer, nw *devnet.Network, rts devnetRuntimes) {
	fmt.Fprintf(w, "wasm runtime    %s  (aleph program upload --wasm)\n", rts.WASM)
	if rts.Python != "" {
		fmt.Fprintf(w, "python runtime  %s  (Debian 12, Python 3.11, FastAPI, uvicorn)\n", rts.Python)
	}
	if rts.RootFS != "" {
		fmt.Fprintf(w, "instance image  %s  (Debian 12 with sshd: aleph instance create --rootfs)\n", rts.RootFS)
	}
	fmt.Fprintln(w, "\nPoint the aleph commands at this devnet:")
	fmt.Fprintf(w, "export ALEPH_API_URL=%s ALEPH_CRN_URL=%s", nw.Nodes()[0].APIURL(), nw.ComputeURL())
	if rts.Python != "" {
		fmt.Fprintf(w, " ALEPH_DEFAULT_RUNTIME=%s", rts.Python)
	}
	if rts.RootFS != "" {
		fmt.Fprintf(w, " ALEPH_DEFAULT_ROOTFS=%s", rts.RootFS)
	}
	fmt.Fprintln(w)
}
