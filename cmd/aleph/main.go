// Command aleph is goaleph's single binary: the core node, and later the
// compute node, the gateway, the devnet and the user's client commands.
package main

import (
	"os"

	"github.com/goaleph/goaleph/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
