// Command aleph-devchain runs the local Ethereum chain of `aleph devnet`: a
// go-ethereum dev chain (internal/chain/devchain) serving JSON-RPC over
// HTTP on 127.0.0.1, sealing a block every --block-interval. It is a
// program of its own so that go-ethereum's full node (about 35 MB) stays
// out of the aleph binary.
//
// Once the chain serves, it writes one JSON line on stdout:
//
//	{"rpc":"http://127.0.0.1:<port>","chain_id":1337,"funded_key":"0x…"}
//
// (funded_key: the dev account 0, funded at genesis), then runs until
// SIGINT or SIGTERM, or, with --stdin-eof-stops, until its standard input
// is closed (the devnet holds it open: the chain ends with the devnet, even
// a killed one).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/goaleph/goaleph/internal/chain/devchain"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "host:port of the JSON-RPC server")
	dataDir := flag.String("data-dir", "", "keep the chain in this directory (default: in memory)")
	interval := flag.Duration("block-interval", time.Second, "time between two blocks")
	stdinStops := flag.Bool("stdin-eof-stops", false, "stop when the standard input is closed")
	flag.Parse()
	if err := run(*addr, *dataDir, *interval, *stdinStops); err != nil {
		fmt.Fprintln(os.Stderr, "aleph-devchain:", err)
		os.Exit(1)
	}
}

func run(addr, dataDir string, interval time.Duration, stdinStops bool) error {
	if interval <= 0 {
		return fmt.Errorf("--block-interval must be positive")
	}
	c, err := devchain.New(devchain.Config{Addr: addr, DataDir: dataDir, BlockInterval: interval})
	if err != nil {
		return err
	}
	defer c.Close()
	b, err := json.Marshal(map[string]any{"rpc": c.URL(), "chain_id": c.ChainID(), "funded_key": c.Accounts()[0].KeyHex()})
	if err != nil {
		return err
	}
	if _, err := fmt.Printf("%s\n", b); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if stdinStops {
		go func() {
			io.Copy(io.Discard, os.Stdin) // returns when the devnet closes it or dies
			stop()
		}()
	}
	<-ctx.Done()
	return c.Close()
}
