package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/chain/eth"
)

func newAccountCmd(g *globals) *cobra.Command {
	return group("account", "Create and inspect the accounts (keys) that sign messages",
		`  aleph account create --chain SOL --name bob --active
  aleph account list`,
		newAccountCreateCmd(g), newAccountListCmd(g), newAccountShowCmd(g), newAccountAddressCmd(g), newAccountBalanceCmd(g))
}

func newAccountCreateCmd(g *globals) *cobra.Command {
	var (
		chain, name, key     string
		mnemonic, derivation string
		active, replace      bool
	)
	cmd := &cobra.Command{
		Use:     "create",
		Aliases: []string{"import"},
		Short:   "Create a new key, or import one (alias: import), and store it in the configuration directory",
		Long: `Create a new key pair of --chain (or import one with --private-key, or for ETH
with --mnemonic: a BIP-39 phrase derived at --derivation-path) and store it under the
configuration directory ($ALEPH_CONFIG_HOME, else $XDG_CONFIG_HOME/aleph, else
~/.config/aleph) with file mode 0600. The first account, or one made with --active,
becomes the active account.

Chains and the form of their --private-key:
` + kindFormats(),
		Example: `  aleph account create
  aleph account create --chain SOL --name sol1 --active
  aleph account create --chain NULS2 --name nuls
  aleph account create --name imported --private-key 0x4c0883a6…
  aleph account import --chain AVAX --name avax --private-key PrivateKey-…
  aleph account import --name wallet --mnemonic "word1 word2 … word12"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.CalledAs() == "import" && key == "" && mnemonic == "" {
				return fmt.Errorf("account import needs --private-key or --mnemonic")
			}
			chain = strings.ToUpper(chain)
			if name == "" {
				name = strings.ToLower(chain)
			}
			if strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
				return fmt.Errorf("bad account name %q", name)
			}
			c, err := loadConfig()
			if err != nil {
				return err
			}
			if _, ok := c.Accounts[name]; ok && !replace {
				return fmt.Errorf("account %q exists (use --replace to overwrite it, or --name)", name)
			}
			var secret string
			if mnemonic != "" {
				if chain != "ETH" {
					return fmt.Errorf("--mnemonic imports ETH accounts only")
				}
				if key != "" {
					return fmt.Errorf("give --mnemonic or --private-key, not both")
				}
				a, err := eth.AccountFromMnemonic(mnemonic, derivation)
				if err != nil {
					return err
				}
				secret = a.PrivateKeyHex()
			} else if key != "" {
				s, err := parseKey(chain, key)
				if err != nil {
					return err
				}
				secret = encodeKey(chain, s)
			} else if _, secret, err = newKey(chain); err != nil {
				return err
			}
			s, err := parseKey(chain, secret)
			if err != nil {
				return err
			}
			rel := filepath.Join("keys", name+".key")
			if err := os.MkdirAll(filepath.Join(c.dir, "keys"), 0o700); err != nil {
				return err
			}
			if err := writeFileAtomic(filepath.Join(c.dir, rel), []byte(secret+"\n")); err != nil {
				return err
			}
			c.Accounts[name] = &accountEntry{Chain: chain, Address: s.Address(), Path: rel}
			if active || c.Active == "" || c.Accounts[c.Active] == nil {
				c.Active = name
			}
			if err := c.save(); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"name": name, "chain": chain, "address": s.Address(),
					"path": filepath.Join(c.dir, rel), "active": c.Active == name})
			}
			fmt.Fprintf(g.out, "created %s account %q: %s\n", chain, name, s.Address())
			if c.Active == name {
				fmt.Fprintln(g.out, "it is the active account")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&chain, "chain", "ETH", "chain of the key: "+kindNames())
	f.StringVar(&name, "name", "", "name of the account (default: the chain in lower case)")
	f.StringVar(&key, "private-key", "", "import this private key, in the chain's form (see above), instead of making one")
	f.StringVar(&mnemonic, "mnemonic", "", "import the ETH account derived from this BIP-39 mnemonic")
	f.StringVar(&derivation, "derivation-path", eth.DefaultPath, "BIP-32 path used with --mnemonic")
	f.BoolVar(&active, "active", false, "make it the active account")
	f.BoolVar(&replace, "replace", false, "overwrite an account of the same name")
	return cmd
}

func newAccountListCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the stored accounts",
		Example: `  aleph account list
  aleph --json account list`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := loadConfig()
			if err != nil {
				return err
			}
			if g.json {
				type row struct {
					Name    string `json:"name"`
					Chain   string `json:"chain"`
					Address string `json:"address"`
					Active  bool   `json:"active"`
				}
				rows := []row{}
				for _, n := range c.names() {
					e := c.Accounts[n]
					rows = append(rows, row{n, e.Chain, e.Address, n == c.Active})
				}
				return g.printJSON(rows)
			}
			if len(c.Accounts) == 0 {
				return errNoAccount
			}
			tw := g.table()
			fmt.Fprintln(tw, "ACTIVE\tNAME\tCHAIN\tADDRESS")
			for _, n := range c.names() {
				e := c.Accounts[n]
				mark := ""
				if n == c.Active {
					mark = "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", mark, n, e.Chain, e.Address)
			}
			return tw.Flush()
		},
	}
}

func newAccountShowCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show [name]",
		Short: "Show an account (default: the active one)",
		Example: `  aleph account show
  aleph account show sol1`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, name, e, err := g.argAccount(args)
			if err != nil {
				return err
			}
			path := filepath.Join(c.dir, e.Path)
			if g.json {
				return g.printJSON(map[string]any{"name": name, "chain": e.Chain, "address": e.Address,
					"path": path, "active": name == c.Active})
			}
			tw := g.table()
			fmt.Fprintf(tw, "name:\t%s\nchain:\t%s\naddress:\t%s\nkey file:\t%s\nactive:\t%v\n",
				name, e.Chain, e.Address, path, name == c.Active)
			return tw.Flush()
		},
	}
}

func newAccountAddressCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "address [name]",
		Short: "Print the address of an account (default: the active one)",
		Example: `  aleph account address
  addr=$(aleph account address sol1)`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, e, err := g.argAccount(args)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.out, e.Address)
			return nil
		},
	}
}

// argAccount loads the configuration and returns the account named by the
// optional argument, else by --account, else the active one.
func (g *globals) argAccount(args []string) (*config, string, *accountEntry, error) {
	c, err := loadConfig()
	if err != nil {
		return nil, "", nil, err
	}
	name := g.account
	if len(args) == 1 {
		name = args[0]
	}
	name, e, err := c.entry(name)
	if err != nil {
		return nil, "", nil, err
	}
	return c, name, e, nil
}
