// Command aleph is goaleph's single binary: the core node, the compute
// node, the devnet and the user's client commands (the gateway is to
// come).
package main

import (
	"os"

	"github.com/goaleph/goaleph/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
