package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/message"
)

// Defaults of aleph instance create, the Python CLI's.
const (
	defaultRootFSSizeMiB  = 20480
	defaultInstanceMemory = client.DefaultInstanceMemory
)

func newInstanceCmd(g *globals) *cobra.Command {
	return group("instance", "Create, list, reboot and delete instances (INSTANCE messages: long-running VMs reached by SSH) and read their console",
		`  aleph instance create --rootfs 8f1c…2d --ssh-pubkey-file ~/.ssh/id_ed25519.pub --name web
  aleph instance list
  aleph instance reboot 5c2e…9a1
  aleph instance logs 5c2e…9a1
  aleph instance delete 5c2e…9a1`,
		newInstanceCreateCmd(g), newInstanceListCmd(g), newInstanceDeleteCmd(g),
		newInstanceOpCmd(g, client.OpReboot, "Reboot an instance on its compute node (owner only)",
			`Stop the instance's VM and boot it again on the same disks, signed by the
account, which must be the instance's owner. It prints the SSH command once
the node forwards the new boot's SSH port.`),
		newInstanceOpCmd(g, client.OpStop, "Stop an instance on its compute node, keeping its disks (owner only)",
			`Halt the instance's VM, signed by the account, which must be the
instance's owner. Its disks stay on the node: "aleph instance allocate"
starts it again.`),
		newInstanceAllocateCmd(g), newInstanceLogsCmd(g))
}

// instanceFlags are the compute node flags of the instance commands.
type instanceFlags struct {
	crnFlags
	wait time.Duration
}

func (f *instanceFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.url, "crn-url", envOr("ALEPH_CRN_URL", defaultCRNURL), "compute node that runs the instance (env ALEPH_CRN_URL)")
	cmd.Flags().StringVar(&f.domain, "crn-domain", "", "the node's domain, named in the signatures (default: its DOMAIN_NAME at /status/config)")
}

func (f *instanceFlags) addWait(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&f.wait, "wait", 10*time.Minute, "how long to wait for the instance's SSH port")
}

// sshCommand is the command that logs in to the instance through the
// node's port forward.
func (f *instanceFlags) sshCommand(port int) string {
	host := "127.0.0.1"
	if u, err := url.Parse(f.url); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return fmt.Sprintf("ssh -p %d root@%s", port, host)
}

// waitSSH waits until the node lists the instance running with its SSH
// port forwarded, and returns the port.
func (f *instanceFlags) waitSSH(ctx context.Context, n *client.CRN, hash string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, f.wait)
	defer cancel()
	var last error
	for {
		list, err := n.Executions(ctx)
		if err == nil {
			e, ok := list[hash]
			if ok && e.Running && e.SSHPort() > 0 {
				return e.SSHPort(), nil
			}
			last = fmt.Errorf("the node does not list it running with an SSH port")
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("instance %s on %s: no SSH port after %s: %w", hash, f.url, f.wait, f.fail(last))
		case <-time.After(time.Second):
		}
	}
}

// volumeFlag parses --persistent-volume values in the Python CLI's form,
// name=data,mount=/mnt/data,size_mib=1024[,persistence=host].
func volumeFlag(v string) (message.Volume, error) {
	vol := message.Volume{Persistence: "host"}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return vol, fmt.Errorf("--persistent-volume %q: %q is not key=value", v, kv)
		}
		switch k {
		case "name":
			vol.Name = val
		case "mount":
			vol.Mount = val
		case "size_mib":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n < 1 {
				return vol, fmt.Errorf("--persistent-volume %q: size_mib must be a positive number of MiB", v)
			}
			vol.SizeMiB = n
		case "persistence":
			vol.Persistence = val
		case "comment":
			vol.Comment = val
		default:
			return vol, fmt.Errorf("--persistent-volume %q: unknown key %q (name, mount, size_mib, persistence, comment)", v, k)
		}
	}
	if vol.Name == "" || vol.SizeMiB == 0 || !strings.HasPrefix(vol.Mount, "/") {
		return vol, fmt.Errorf("--persistent-volume %q: needs name, an absolute mount and size_mib", v)
	}
	if vol.Persistence != "host" && vol.Persistence != "store" {
		return vol, fmt.Errorf("--persistent-volume %q: persistence must be host or store", v)
	}
	return vol, nil
}

// expandHome expands a leading ~/ in a path.
func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

func newInstanceCreateCmd(g *globals) *cobra.Command {
	var (
		f                        instanceFlags
		rootfs, name, payment    string
		keyFile                  string
		rootfsSize, memory, secs int64
		vcpus                    int
		volumes                  []string
		noStart                  bool
		hypervisor, paymentChain string
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Publish an INSTANCE message and start it on a compute node; print its SSH command",
		Long: `Publish an INSTANCE message: a VM booted from the root image --rootfs (the
item hash of its STORE message, default env ALEPH_DEFAULT_ROOTFS, which
aleph devnet prints), with a root disk of --rootfs-size MiB, --vcpus and
--memory, the SSH public key of --ssh-pubkey-file allowed to log in as root,
and the persistent volumes of --persistent-volume. Then ask the compute node
--crn-url to start it (its notify endpoint), wait until the node forwards
the instance's SSH port, and print the command that logs in:

  ssh -p <port> root@<the node's host>

The root disk and the volumes are kept across reboots; "aleph instance
delete" erases them. With --no-start, only the message is published.
Payment: hold (the default) keeps the cost in the account's ALEPH balance;
this command opens no Superfluid stream.`,
		Example: `  aleph instance create --rootfs 8f1c…2d --ssh-pubkey-file ~/.ssh/id_ed25519.pub
  aleph instance create --name web --rootfs-size 4096 --vcpus 2 --memory 1024 \
      --persistent-volume name=data,mount=/mnt/data,size_mib=1024 --crn-url http://127.0.0.1:4020
  aleph --json instance create | jq -r .ssh`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPaymentType(payment, true); err != nil {
				return err
			}
			if rootfs == "" {
				if rootfs = os.Getenv("ALEPH_DEFAULT_ROOTFS"); rootfs == "" {
					return errors.New("no root image: give --rootfs <hash of the image's STORE message>, " +
						"or set ALEPH_DEFAULT_ROOTFS (aleph devnet prints the hash of the instance image it publishes)")
				}
			}
			if err := checkHash(rootfs); err != nil {
				return fmt.Errorf("--rootfs: %w", err)
			}
			if rootfsSize < 1 || vcpus < 1 || memory < 1 || secs < 1 {
				return errors.New("--rootfs-size, --vcpus, --memory and --timeout-seconds must be at least 1")
			}
			if len(name) > 64 {
				return errors.New("--name: at most 64 characters")
			}
			key, err := os.ReadFile(expandHome(keyFile))
			if err != nil {
				return fmt.Errorf("--ssh-pubkey-file: %w (give the public key that may log in to the instance)", err)
			}
			pub := strings.TrimSpace(string(key))
			if !strings.HasPrefix(pub, "ssh-") && !strings.HasPrefix(pub, "ecdsa-") && !strings.HasPrefix(pub, "sk-") {
				return fmt.Errorf("--ssh-pubkey-file %s is not an SSH public key (ssh-ed25519 AAAA…)", keyFile)
			}
			p := client.InstanceParams{RootFS: rootfs, RootFSSizeMiB: rootfsSize, VCPUs: vcpus, MemoryMiB: memory,
				Seconds: secs, AuthorizedKeys: []string{pub}, Internet: true, AlephAPI: true, Hypervisor: hypervisor,
				Name: name, Channel: g.channel, Sync: true}
			if payment != "" {
				p.Payment = &client.Payment{Type: payment, Chain: paymentChain}
			}
			for _, v := range volumes {
				vol, err := volumeFlag(v)
				if err != nil {
					return err
				}
				p.Volumes = append(p.Volumes, vol)
			}
			ctx, c := cmd.Context(), g.client()
			r, err := c.Message(ctx, rootfs)
			if err != nil {
				return fmt.Errorf("--rootfs: %w", notFound(err, rootfs))
			}
			if r.Message == nil || r.Status != client.StatusProcessed || r.Message.Type != message.TypeStore {
				return fmt.Errorf("--rootfs %s is not a processed STORE message (%s)", rootfs, r.Status)
			}
			s, err := g.signer()
			if err != nil {
				return err
			}
			estimate, err := client.InstanceContent(s.Address(), p)
			if err != nil {
				return err
			}
			if err := checkCost(ctx, g, c, message.TypeInstance, s.Address(), estimate,
				func(line string) { fmt.Fprintln(cmd.ErrOrStderr(), line) }); err != nil {
				return err
			}
			res, err := c.CreateInstance(ctx, s, p)
			if err != nil {
				return err
			}
			hash := res.Message.ItemHash
			if res.Status != client.StatusProcessed {
				return fmt.Errorf("INSTANCE %s is %s", hash, statusLine(res.Status))
			}
			out := map[string]any{"item_hash": hash, "status": res.Status, "rootfs": rootfs, "crn_url": f.url}
			if noStart {
				if g.json {
					return g.printJSON(out)
				}
				fmt.Fprintf(g.out, "item_hash:\t%s\nstatus:\t%s\n", hash, res.Status)
				return nil
			}
			if !g.json && stderrIsTerminal() {
				fmt.Fprintf(cmd.ErrOrStderr(), "instance %s published; starting it on %s\n", hash, f.url)
			}
			n := f.node()
			if err := n.NotifyInstance(ctx, hash); err != nil {
				return fmt.Errorf("instance %s is published but %s did not start it: %w "+
					"(aleph instance delete %s forgets it)", hash, f.url, f.fail(err), hash)
			}
			port, err := f.waitSSH(ctx, n, hash)
			if err != nil {
				return err
			}
			ssh := f.sshCommand(port)
			if g.json {
				out["ssh_port"], out["ssh"] = port, ssh
				return g.printJSON(out)
			}
			tw := g.table()
			fmt.Fprintf(tw, "item_hash:\t%s\nstatus:\t%s\ncompute node:\t%s\nssh:\t%s\n", hash, res.Status, f.url, ssh)
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&rootfs, "rootfs", "", "item hash of the root image's STORE message (default env ALEPH_DEFAULT_ROOTFS)")
	fl.Int64Var(&rootfsSize, "rootfs-size", defaultRootFSSizeMiB, "size of the root disk in MiB")
	fl.IntVar(&vcpus, "vcpus", client.DefaultInstanceVCPUs, "virtual CPUs")
	fl.Int64Var(&memory, "memory", defaultInstanceMemory, "memory in MiB")
	fl.Int64Var(&secs, "timeout-seconds", client.DefaultInstanceSeconds, "resources.seconds of the message")
	fl.StringVar(&keyFile, "ssh-pubkey-file", "~/.ssh/id_rsa.pub", "SSH public key allowed to log in as root")
	fl.StringVar(&name, "name", "", "name of the instance (metadata.name)")
	fl.StringVar(&payment, "payment-type", "", "hold (the default), credit or superfluid")
	fl.StringVar(&paymentChain, "payment-chain", "", "chain of the payment (for superfluid)")
	fl.StringVar(&hypervisor, "hypervisor", "qemu", "environment.hypervisor of the message")
	fl.StringArrayVar(&volumes, "persistent-volume", nil, "a persistent volume, name=…,mount=…,size_mib=… (repeatable)")
	fl.BoolVar(&noStart, "no-start", false, "only publish the message; do not ask a compute node to start it")
	f.add(cmd)
	f.addWait(cmd)
	return cmd
}

// instanceInfo is what list reads of an INSTANCE content.
type instanceInfo struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Resources message.Resources `json:"resources"`
	RootFS    message.RootFS    `json:"rootfs"`
}

func newInstanceListCmd(g *globals) *cobra.Command {
	var (
		f                instanceFlags
		address          string
		page, pagination int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the INSTANCE messages of an address, with their state on a compute node",
		Long: `List the INSTANCE messages of the address (default: the account's), newest
first, with what the compute node --crn-url says of each: running and its
SSH command, or not there. A node that cannot be reached is reported once;
the messages are listed anyway.`,
		Example: `  aleph instance list
  aleph --json instance list | jq -r '.instances[] | select(.running) | .ssh'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if pagination < 1 || page < 1 {
				return errors.New("--pagination and --page must be at least 1")
			}
			addr, err := g.addressOr(address)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			p, err := g.client().Messages(ctx, client.MessageFilter{Types: []message.Type{message.TypeInstance},
				Addresses: []string{addr}, Page: page, Pagination: pagination})
			if err != nil {
				return err
			}
			execs, crnErr := f.node().Executions(ctx)
			type item struct {
				ItemHash string          `json:"item_hash"`
				Name     string          `json:"name"`
				Time     float64         `json:"time"`
				Running  bool            `json:"running"`
				SSHPort  int             `json:"ssh_port,omitempty"`
				SSH      string          `json:"ssh,omitempty"`
				Content  json.RawMessage `json:"content"`
				info     instanceInfo
			}
			items := make([]item, len(p.Messages))
			for i, m := range p.Messages {
				it := item{ItemHash: m.ItemHash, Time: m.Time, Content: m.Content}
				_ = json.Unmarshal(m.Content, &it.info)
				it.Name = it.info.Metadata.Name
				if e, ok := execs[m.ItemHash]; ok && e.Running {
					it.Running, it.SSHPort = true, e.SSHPort()
					if it.SSHPort > 0 {
						it.SSH = f.sshCommand(it.SSHPort)
					}
				}
				items[i] = it
			}
			if g.json {
				out := map[string]any{"address": addr, "crn_url": f.url, "instances": items,
					"pagination_page": p.Page, "pagination_total": p.Total}
				if crnErr != nil {
					out["crn_error"] = f.fail(crnErr).Error()
				}
				return g.printJSON(out)
			}
			tw := g.table()
			fmt.Fprintln(tw, "HASH\tNAME\tVCPUS\tMEMORY\tDISK\tCREATED\tON THE NODE")
			for _, it := range items {
				state := "-"
				switch {
				case it.SSH != "":
					state = it.SSH
				case it.Running:
					state = "running"
				}
				name := it.Name
				if name == "" {
					name = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d MiB\t%d MiB\t%s\t%s\n", it.ItemHash, name, it.info.Resources.VCPUs,
					it.info.Resources.Memory, it.info.RootFS.SizeMiB, fmtTime(it.Time), state)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(g.out, "%s: %d instances (page %d)\n", addr, p.Total, page)
			if crnErr != nil {
				fmt.Fprintln(g.out, f.fail(crnErr))
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&address, "address", "", "owner of the instances (default: the account's address)")
	fl.IntVar(&pagination, "pagination", 100, "instances per page")
	fl.IntVar(&page, "page", 1, "page, from 1")
	f.add(cmd)
	return cmd
}

// ownInstance reads the INSTANCE message hash and checks that s owns it.
func ownInstance(ctx context.Context, c *client.Client, s message.Signer, hash string) error {
	if err := checkHash(hash); err != nil {
		return err
	}
	r, err := c.Message(ctx, hash)
	if err != nil {
		return notFound(err, hash)
	}
	if r.Message == nil || r.Status != client.StatusProcessed {
		return fmt.Errorf("instance %s is %s", hash, r.Status)
	}
	if r.Message.Type != message.TypeInstance {
		return fmt.Errorf("%s is a %s message, not an INSTANCE", hash, r.Message.Type)
	}
	if !strings.EqualFold(r.Message.Sender, s.Address()) {
		return fmt.Errorf("instance %s belongs to %s, not to the account %s", hash, r.Message.Sender, s.Address())
	}
	return nil
}

func newInstanceDeleteCmd(g *globals) *cobra.Command {
	var (
		f      instanceFlags
		reason string
	)
	cmd := &cobra.Command{
		Use:   "delete <instance-hash>",
		Short: "Erase an instance on its compute node (VM and disks), then forget its INSTANCE message",
		Long: `Erase the instance on the compute node --crn-url, signed by the account
(its owner): the VM stops and its root disk and volumes are deleted. Then
publish a FORGET of the INSTANCE message. An instance the node does not run
is only forgotten; a node that cannot be reached or refuses stops the
command before the FORGET, so that no VM is left running unpaid for.`,
		Example: `  aleph instance delete 5c2e…9a1
  aleph instance delete 5c2e…9a1 --crn-url http://127.0.0.1:4020 --reason "done"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hash := args[0]
			ctx, c := cmd.Context(), g.client()
			s, err := g.signer()
			if err != nil {
				return err
			}
			if err := ownInstance(ctx, c, s, hash); err != nil {
				return err
			}
			erased, err := f.node().Operate(ctx, s, client.OpErase, hash)
			switch {
			case errors.Is(err, client.ErrNotFound):
				erased = "not on " + f.url
			case err != nil:
				return fmt.Errorf("erase on %s: %w", f.url, f.fail(err))
			}
			res, err := c.Forget(ctx, s, client.ForgetParams{Hashes: []string{hash}, Reason: reason, Channel: g.channel, Sync: true})
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"item_hash": res.Message.ItemHash, "status": res.Status,
					"instance": hash, "erased": erased})
			}
			tw := g.table()
			fmt.Fprintf(tw, "compute node:\t%s\nitem_hash:\t%s\nstatus:\t%s\n", erased, res.Message.ItemHash, statusLine(res.Status))
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the instance is deleted")
	f.add(cmd)
	return cmd
}

// newInstanceOpCmd is reboot or stop.
func newInstanceOpCmd(g *globals, op, short, long string) *cobra.Command {
	var f instanceFlags
	cmd := &cobra.Command{
		Use:     op + " <instance-hash>",
		Short:   short,
		Long:    long,
		Example: "  aleph instance " + op + " 5c2e…9a1 --crn-url http://127.0.0.1:4020",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkHash(args[0]); err != nil {
				return err
			}
			s, err := g.signer()
			if err != nil {
				return err
			}
			ctx, n := cmd.Context(), f.node()
			text, err := n.Operate(ctx, s, op, args[0])
			if err != nil {
				return f.fail(err)
			}
			out := map[string]any{"item_hash": args[0], "operation": op, "result": text}
			var ssh string
			if op == client.OpReboot {
				port, err := f.waitSSH(ctx, n, args[0])
				if err != nil {
					return err
				}
				ssh = f.sshCommand(port)
				out["ssh_port"], out["ssh"] = port, ssh
			}
			if g.json {
				return g.printJSON(out)
			}
			fmt.Fprintln(g.out, text)
			if ssh != "" {
				fmt.Fprintln(g.out, "ssh:", ssh)
			}
			return nil
		},
	}
	f.add(cmd)
	if op == client.OpReboot {
		f.addWait(cmd)
	}
	return cmd
}

func newInstanceAllocateCmd(g *globals) *cobra.Command {
	var f instanceFlags
	cmd := &cobra.Command{
		Use:     "allocate <instance-hash>",
		Aliases: []string{"start"},
		Short:   "Ask a compute node to start an instance (its notify endpoint); print its SSH command",
		Long: `Ask the compute node --crn-url to start the INSTANCE (POST
/control/allocation/notify): a new one, or one stopped with "aleph instance
stop", on the disks it kept. It waits until the node forwards the
instance's SSH port and prints the SSH command.`,
		Example: "  aleph instance allocate 5c2e…9a1 --crn-url http://127.0.0.1:4020",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkHash(args[0]); err != nil {
				return err
			}
			ctx, n := cmd.Context(), f.node()
			if err := n.NotifyInstance(ctx, args[0]); err != nil {
				return fmt.Errorf("%s did not start %s: %w", f.url, args[0], f.fail(err))
			}
			port, err := f.waitSSH(ctx, n, args[0])
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"item_hash": args[0], "crn_url": f.url, "ssh_port": port, "ssh": f.sshCommand(port)})
			}
			fmt.Fprintln(g.out, "ssh:", f.sshCommand(port))
			return nil
		},
	}
	f.add(cmd)
	f.addWait(cmd)
	return cmd
}

func newInstanceLogsCmd(g *globals) *cobra.Command {
	var f instanceFlags
	cmd := &cobra.Command{
		Use:   "logs <instance-hash>",
		Short: "Print an instance's console on its compute node (owner only)",
		Long: `Print the console of the instance's VM (its init's and sshd's output, the
last lines of each boot), oldest first, signed by the account, which must be
the instance's owner.`,
		Example: `  aleph instance logs 5c2e…9a1
  aleph --json instance logs 5c2e…9a1 | jq -r '.[].MESSAGE'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.printLogs(cmd.Context(), g, args[0])
		},
	}
	f.add(cmd)
	return cmd
}
