package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/economy"
	"github.com/goaleph/goaleph/message"
)

// progressThreshold is the size from which transfers show a progress bar
// on a terminal: smaller files finish before a bar says anything useful.
const progressThreshold = 4 << 20

// progressMode is the --progress/--no-progress choice of a transfer.
type progressMode struct{ force, off bool }

func (p *progressMode) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&p.force, "progress", false, "always show a progress bar on stderr, even when it is not a terminal")
	cmd.Flags().BoolVar(&p.off, "no-progress", false, "never show a progress bar")
	cmd.MarkFlagsMutuallyExclusive("progress", "no-progress")
}

// show tells whether a transfer of size bytes (-1: unknown) gets a bar:
// forced, or on a terminal for files over progressThreshold.
func (p *progressMode) show(size int64) bool {
	switch {
	case p.off:
		return false
	case p.force:
		return true
	}
	fd := os.Stderr.Fd()
	return (isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd)) && (size < 0 || size > progressThreshold)
}

// callback returns a progress function drawing a bar (bytes, rate, ETA) on
// stderr, and a function to call when the transfer ends; both no-ops when
// no bar is shown.
func (p *progressMode) callback(desc string, size int64) (func(done, total int64), func()) {
	var bar *progressbar.ProgressBar
	fn := func(done, total int64) {
		if bar == nil {
			if !p.show(total) {
				return
			}
			bar = progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(os.Stderr),
				progressbar.OptionSetDescription(desc),
				progressbar.OptionShowBytes(true),
				progressbar.OptionShowCount(),
				progressbar.OptionSetPredictTime(true),
				progressbar.OptionSetWidth(30),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionShowElapsedTimeOnFinish(),
				progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }),
			)
		}
		_ = bar.Set64(done)
	}
	if size >= 0 && !p.show(size) {
		return func(int64, int64) {}, func() {}
	}
	return fn, func() {
		if bar != nil {
			_ = bar.Finish()
		}
	}
}

func newFileCmd(g *globals) *cobra.Command {
	return group("file", "Upload, pin, list, download and forget stored files",
		`  aleph file upload video.mp4
  aleph file pin QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB
  aleph file list
  aleph file download 9f86d0…0f00a08 --output-path video.mp4`,
		newFileUploadCmd(g), newFilePinCmd(g), newFileListCmd(g), newFileDownloadCmd(g), newFileForgetCmd(g))
}

func newFileUploadCmd(g *globals) *cobra.Command {
	var (
		engine, ref, payment string
		sync                 bool
		pm                   progressMode
	)
	cmd := &cobra.Command{
		Use:   "upload <path>",
		Short: "Upload a file and publish a STORE message for it",
		Long: `Upload a file (streamed, never held in memory) and publish the STORE message
that pins it. A progress bar (bytes, rate, ETA) is drawn on stderr when it is a
terminal and the file is over 4 MiB; --progress forces it, --no-progress
hides it.`,
		Example: `  aleph file upload photo.jpg
  aleph file upload big.iso --storage-engine ipfs --ref v2
  aleph --json file upload data.bin --no-progress | jq -r .file_hash`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if engine != client.EngineStorage && engine != client.EngineIPFS {
				return fmt.Errorf("--storage-engine must be %s or %s", client.EngineStorage, client.EngineIPFS)
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil {
				return err
			}
			if st.IsDir() {
				return fmt.Errorf("%s is a directory", args[0])
			}
			if err := checkPaymentType(payment, false); err != nil {
				return err
			}
			return g.write(func(c *client.Client, s message.Signer) (*client.Result, error) {
				if err := checkCost(cmd.Context(), g, c, message.TypeStore, s.Address(), storeEstimate(s.Address(), engine, payment, st.Size()),
					func(line string) { fmt.Fprintln(cmd.ErrOrStderr(), line) }); err != nil {
					return nil, err
				}
				progress, done := pm.callback("upload", st.Size())
				defer done()
				return c.Store(cmd.Context(), s, f, client.StoreParams{Engine: engine, Ref: ref,
					Channel: g.channel, Sync: sync, Size: st.Size(), Progress: progress, PaymentType: payment})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&engine, "storage-engine", client.EngineStorage, "storage or ipfs")
	f.StringVar(&ref, "ref", "", "reference (for example the STORE message of a previous version)")
	f.BoolVar(&sync, "sync", true, "wait for the node to process the STORE message")
	f.StringVar(&payment, "payment-type", "", "hold (the default: keep ALEPH in the wallet) or credit")
	pm.addFlags(cmd)
	return cmd
}

// checkPaymentType checks a --payment-type value; superfluid streams are
// for executables only.
func checkPaymentType(p string, executable bool) error {
	switch {
	case p == "" || p == economy.PaymentHold || p == economy.PaymentCredit:
		return nil
	case p == economy.PaymentSuperfluid && executable:
		return nil
	case executable:
		return fmt.Errorf("--payment-type must be hold, credit or superfluid, not %q", p)
	}
	return fmt.Errorf("--payment-type must be hold or credit, not %q", p)
}

// storeEstimate is the content whose price a STORE of size bytes has:
// its size rounded up to whole MiB (estimated_size_mib).
func storeEstimate(address, engine, payment string, size int64) []byte {
	c := map[string]any{"address": address, "time": float64(time.Now().UnixMilli()) / 1000, "item_type": engine,
		"estimated_size_mib": (size + economy.MiB - 1) / economy.MiB}
	if payment != "" {
		c["payment"] = map[string]string{"type": payment}
	}
	b, _ := json.Marshal(c)
	return b
}

func newFilePinCmd(g *globals) *cobra.Command {
	var (
		ref  string
		sync bool
	)
	cmd := &cobra.Command{
		Use:   "pin <cid>",
		Short: "Pin a file already on IPFS by publishing a STORE message for its CID",
		Long: `Publish a STORE message (item_type ipfs) for a file already on IPFS: nothing
is uploaded, the node fetches the file by its CID (Qm… or bafy…/bafk…).`,
		Example: `  aleph file pin QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB
  aleph file pin bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi --ref v2
  aleph --json file pin QmPZ9gcCEpqKTo6aq61g2nXGUhM4iCL3ewB6LDXZCtioEB | jq -r .item_hash`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cid := args[0]
			if it, err := message.ItemTypeOf(cid); err != nil || it != message.ItemIPFS {
				return fmt.Errorf("%q is not an IPFS CID (Qm… or bafy…/bafk…)", cid)
			}
			return g.write(func(c *client.Client, s message.Signer) (*client.Result, error) {
				return c.Pin(cmd.Context(), s, cid, client.StoreParams{Ref: ref, Channel: g.channel, Sync: sync})
			})
		},
	}
	cmd.Flags().StringVar(&ref, "ref", "", "reference (for example the STORE message of a previous version)")
	cmd.Flags().BoolVar(&sync, "sync", true, "wait for the node to process the STORE message")
	return cmd
}

func newFileListCmd(g *globals) *cobra.Command {
	var (
		address          string
		pagination, page int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the files pinned by an address's STORE messages, newest first",
		Example: `  aleph file list
  aleph file list --address 0xAbC… --pagination 20 --page 2
  aleph --json file list | jq -r '.files[].file_hash'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if pagination < 1 || page < 1 {
				return errors.New("--pagination and --page must be at least 1")
			}
			addr, err := g.addressOr(address)
			if err != nil {
				return err
			}
			res, err := g.client().AddressFiles(cmd.Context(), addr, page, pagination)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(res)
			}
			tw := g.table()
			fmt.Fprintln(tw, "FILE HASH\tSIZE\tCREATED\tSTORE MESSAGE")
			for _, f := range res.Files {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", f.FileHash, f.Size, f.Created.UTC().Format(time.RFC3339), f.ItemHash)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(g.out, "%s: %d files, %d bytes in total (page %d)\n", addr, res.Total, res.TotalSize, page)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&address, "address", "", "owner of the files (default: the account's address)")
	f.IntVar(&pagination, "pagination", 100, "files per page")
	f.IntVar(&page, "page", 1, "page, from 1")
	return cmd
}

func newFileDownloadCmd(g *globals) *cobra.Command {
	var (
		output string
		pm     progressMode
	)
	cmd := &cobra.Command{
		Use:   "download <file-hash>",
		Short: "Download a stored file by its file hash (sha256 or CID)",
		Example: `  aleph file download 9f86d0…0f00a08
  aleph file download 9f86d0…0f00a08 --output-path photo.jpg
  aleph file download 9f86d0…0f00a08 --output-path - | sha256sum`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hash := args[0]
			if err := checkHash(hash); err != nil {
				return err
			}
			if output == "" {
				output = hash
			} else if st, err := os.Stat(output); err == nil && st.IsDir() {
				output = filepath.Join(output, hash)
			}
			var w io.Writer = os.Stdout
			var tmp *os.File
			if output != "-" {
				var err error
				tmp, err = os.CreateTemp(filepath.Dir(output), ".download-*")
				if err != nil {
					return err
				}
				defer os.Remove(tmp.Name())
				defer tmp.Close()
				w = tmp
			}
			progress, done := pm.callback("download", -1)
			n, err := g.client().Download(cmd.Context(), hash, w, client.WithDownloadProgress(progress))
			done()
			if errors.Is(err, client.ErrNotFound) {
				return fmt.Errorf("file %s not found on the node", hash)
			}
			if err != nil {
				return err
			}
			if tmp == nil {
				return nil
			}
			if err := tmp.Close(); err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), output); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"file_hash": hash, "path": output, "size": n})
			}
			fmt.Fprintf(g.out, "wrote %d bytes to %s\n", n, output)
			return nil
		},
	}
	cmd.Flags().StringVar(&output, "output-path", "", "file or directory to write to, - for stdout (default: ./<file-hash>)")
	pm.addFlags(cmd)
	return cmd
}

func newFileForgetCmd(g *globals) *cobra.Command {
	return newForgetCmd(g, "forget <store-message-hash>...",
		"Forget STORE messages, so that their files are no longer kept",
		`  aleph file forget 5c2e…9a1 --reason "old version"`)
}
