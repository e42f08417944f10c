// Package cli holds the cobra commands of the aleph binary.
package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Main runs the aleph command line with args and returns the exit code.
func Main(args []string) int {
	g := &globals{out: os.Stdout}
	root := newRoot(g)
	root.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, errorLine(err, g.apiURL))
		return 1
	}
	return 0
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "aleph",
		Short: "goaleph: a node and client of the Aleph.im decentralized cloud",
		Example: `  aleph account create
  aleph post create --type note --content '{"body":"hello"}'
  aleph --json message find --addresses 0x…`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	g.addFlags(root)
	root.AddCommand(newNodeCmd(), newAccountCmd(g), newPostCmd(g), newAggregateCmd(g),
		newFileCmd(g), newMessageCmd(g), newDevnetCmd(g), newCompletionCmd())
	root.AddCommand(newComputeCmd(g))
	root.AddCommand(newGatewayCmd(g))
	root.AddCommand(newProgramCmd(g))
	root.AddCommand(newInstanceCmd(g))
	root.AddCommand(newPricingCmd(g))
	return root
}

// newLogger returns a text logger at level ("debug", "info", "warn", "error").
func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, errors.New("log level must be debug, info, warn or error")
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// group returns the command use that only holds its subcommands subs.
func group(use, short, example string, subs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Example: example}
	cmd.AddCommand(subs...)
	return cmd
}
