package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/message"
)

// defaultCRNURL is the compute node whose URL upload prints, as `aleph
// compute run` listens by default.
const defaultCRNURL = "http://127.0.0.1:4020"

func newProgramCmd(g *globals) *cobra.Command {
	return group("program", "Upload, list, update and delete programs (PROGRAM messages run on demand by compute nodes); read their logs, stop and reboot them",
		`  aleph program upload ./app main:app --runtime 63f07193…
  aleph program upload main.wasm main.wasm --wasm
  aleph program list
  aleph program update 5c2e…9a1 ./app
  aleph program delete 5c2e…9a1 --code
  aleph program logs 5c2e…9a1 --crn-url http://127.0.0.1:4020
  aleph program reboot 5c2e…9a1`,
		newProgramUploadCmd(g), newProgramListCmd(g), newProgramUpdateCmd(g), newProgramDeleteCmd(g),
		newProgramLogsCmd(g),
		newProgramOwnerOpCmd(g, "stop", "Stop a program's execution on a compute node (owner only)",
			`Stop the program's execution on the compute node, signed by the account,
which must be the program's owner. The next request to the program starts
it again; a persistent program is no longer kept running by that node.`),
		newProgramOwnerOpCmd(g, "reboot", "Restart a program's execution on a compute node (owner only)",
			`Stop the program's execution on the compute node and start a new one,
signed by the account, which must be the program's owner.`))
}

// programContent is the content of a PROGRAM message as upload writes it
// (aleph-message's ProgramContent, spec compute-node §2), in the Python
// SDK's field choices: code and runtime use_latest, on.http true, hold
// payment (no payment field).
type programContent struct {
	Address     string              `json:"address"`
	Time        json.Number         `json:"time"`
	Type        string              `json:"type"`
	AllowAmend  bool                `json:"allow_amend"`
	Metadata    map[string]string   `json:"metadata,omitempty"`
	Variables   map[string]string   `json:"variables,omitempty"`
	Environment programEnv          `json:"environment"`
	Resources   message.Resources   `json:"resources"`
	Code        message.CodeContent `json:"code"`
	Runtime     message.Ref         `json:"runtime"`
	Volumes     []message.Volume    `json:"volumes"`
	On          programOn           `json:"on"`
	Payment     *programPayment     `json:"payment,omitempty"`
}

type programPayment struct {
	Type string `json:"type"`
}

type programEnv struct {
	Reproducible bool `json:"reproducible"`
	Internet     bool `json:"internet"`
	AlephAPI     bool `json:"aleph_api"`
	SharedCache  bool `json:"shared_cache"`
}

type programOn struct {
	HTTP       bool `json:"http"`
	Persistent bool `json:"persistent"`
}

// programURLs are where a program is reached.
type programURLs struct {
	VM   string `json:"vm_url"`
	Host string `json:"host_url,omitempty"`
	API  string `json:"message_url"`
}

func newProgramUploadCmd(g *globals) *cobra.Command {
	var (
		runtime, name, crnURL, domain   string
		envVars                         []string
		memory                          int64
		vcpus                           int
		seconds                         int64
		internet, persistent, updatable bool
		wasmRT                          bool
		pm                              progressMode
		payment                         string
	)
	cmd := &cobra.Command{
		Use:   "upload <path> <entrypoint>",
		Short: "Upload code and publish a PROGRAM message that compute nodes run on demand",
		Long: `Upload code with a STORE message, then sign and publish a PROGRAM message
that runs it. <path> is a file, uploaded as is (code.encoding plain), or a
directory, zipped (code.encoding zip; <entrypoint> names a file inside it, or
a Python "module:app" for the asgi interface).

The runtime is --runtime (the item hash of the runtime's STORE), or with
--wasm the WASM runtime marker of goaleph's compute nodes (uploaded once,
reused when the node already has it: same content, same hash), or the hash
in ALEPH_DEFAULT_RUNTIME. The code is referenced with use_latest, so
"aleph program update" changes what the program runs.

It prints the program's item hash and URLs: <crn-url>/vm/<hash>, and
<base32 hash>.<domain> when --domain is given.`,
		Example: `  aleph program upload ./app main:app --runtime 63f07193… --internet --env-vars MODE=prod,DEBUG=0
  aleph program upload main.wasm main.wasm --wasm --memory 64 --timeout-seconds 5
  aleph --json program upload ./site app/main.wasm --wasm --name site --domain crn.example.org`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, entrypoint := args[0], args[1]
			vars, err := parseEnvVars(envVars)
			if err != nil {
				return err
			}
			if err := checkPaymentType(payment, true); err != nil {
				return err
			}
			if runtime != "" && wasmRT {
				return errors.New("give --runtime or --wasm, not both")
			}
			if runtime == "" && !wasmRT {
				runtime = os.Getenv("ALEPH_DEFAULT_RUNTIME")
				if runtime == "" {
					return errors.New("no runtime: give --runtime <hash of the runtime's STORE message> or --wasm, " +
						"or set ALEPH_DEFAULT_RUNTIME (aleph devnet prints the hash of the default runtime it publishes)")
				}
			}
			if runtime != "" {
				if err := checkHash(runtime); err != nil {
					return fmt.Errorf("--runtime: %w", err)
				}
			}
			s, err := g.signer()
			if err != nil {
				return err
			}
			ctx, c := cmd.Context(), g.client()
			encoding, code, err := uploadCode(ctx, g, c, s, path, "", &pm)
			if err != nil {
				return err
			}
			comment := "runtime " + runtime
			if wasmRT {
				if runtime, err = wasmMarker(ctx, g, c, s); err != nil {
					return err
				}
				comment = "WASI preview 1 (goaleph wasm)"
			}
			t := time.UnixMilli(time.Now().UnixMilli())
			pc := programContent{
				Address:     s.Address(),
				Time:        json.Number(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)),
				Type:        "vm-function",
				AllowAmend:  updatable,
				Variables:   vars,
				Environment: programEnv{Internet: internet, AlephAPI: true},
				Resources:   message.Resources{VCPUs: vcpus, Memory: memory, Seconds: seconds},
				Code:        message.CodeContent{Encoding: encoding, Entrypoint: entrypoint, Ref: code, UseLatest: true},
				Runtime:     message.Ref{Ref: runtime, UseLatest: true, Comment: comment},
				Volumes:     []message.Volume{},
				On:          programOn{HTTP: true, Persistent: persistent},
			}
			if !wasmRT {
				pc.Code.Interface = "binary"
				if strings.Contains(entrypoint, ":") {
					pc.Code.Interface = "asgi"
				}
			}
			if name != "" {
				pc.Metadata = map[string]string{"name": name}
			}
			if payment != "" {
				pc.Payment = &programPayment{Type: payment}
			}
			estimate, err := json.Marshal(pc)
			if err != nil {
				return err
			}
			if err := checkCost(ctx, g, c, message.TypeProgram, s.Address(), estimate,
				func(line string) { fmt.Fprintln(cmd.ErrOrStderr(), line) }); err != nil {
				return err
			}
			m, st, err := publishProgram(ctx, g, c, s, pc, t)
			if err != nil {
				return err
			}
			urls, err := programURLsOf(g, m.ItemHash, crnURL, domain)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"item_hash": m.ItemHash, "status": st, "code_ref": code,
					"runtime_ref": runtime, "message": m, "urls": urls})
			}
			tw := g.table()
			fmt.Fprintf(tw, "item_hash:\t%s\nstatus:\t%s\ncode:\t%s (%s)\nruntime:\t%s\nurl:\t%s\n",
				m.ItemHash, statusLine(st), code, encoding, runtime, urls.VM)
			if urls.Host != "" {
				fmt.Fprintf(tw, "host url:\t%s\n", urls.Host)
			}
			fmt.Fprintf(tw, "message:\t%s\n", urls.API)
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&runtime, "runtime", "", "item hash of the runtime's STORE message (default env ALEPH_DEFAULT_RUNTIME)")
	f.BoolVar(&wasmRT, "wasm", false, "run the code as a WASI preview-1 module on the wasm backend (the WASM runtime marker)")
	f.Int64Var(&memory, "memory", 128, "memory in MiB")
	f.IntVar(&vcpus, "vcpus", 1, "virtual CPUs")
	f.Int64Var(&seconds, "timeout-seconds", 30, "per-request timeout in seconds")
	f.BoolVar(&internet, "internet", false, "give the program internet access")
	f.BoolVar(&persistent, "persistent", false, "keep the program running instead of starting it on demand")
	f.StringSliceVar(&envVars, "env-vars", nil, "environment variables, K=V (comma-separated or repeated)")
	f.StringVar(&name, "name", "", "name of the program (metadata.name)")
	f.BoolVar(&updatable, "updatable", false, "allow amends of the PROGRAM message (allow_amend)")
	f.StringVar(&crnURL, "crn-url", envOr("ALEPH_CRN_URL", defaultCRNURL), "compute node whose URL is printed (env ALEPH_CRN_URL)")
	f.StringVar(&domain, "domain", "", "compute node domain: also print <base32 hash>.<domain>")
	f.StringVar(&payment, "payment-type", "", "hold (the default: keep ALEPH in the wallet), credit or superfluid")
	pm.addFlags(cmd)
	return cmd
}

// statusLine explains a pending status.
func statusLine(st client.Status) string {
	if st == client.StatusPending {
		return string(st) + " (the node has not processed it yet: see aleph message status)"
	}
	return string(st)
}

// parseEnvVars reads K=V pairs.
func parseEnvVars(vs []string) (map[string]string, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(vs))
	for _, v := range vs {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--env-vars: %q is not K=V", v)
		}
		out[k] = val
	}
	return out, nil
}

// programURLsOf returns the URLs of the program hash.
func programURLsOf(g *globals, hash, crnURL, domain string) (programURLs, error) {
	u := programURLs{VM: strings.TrimRight(crnURL, "/") + "/vm/" + hash,
		API: strings.TrimRight(g.apiURL, "/") + "/api/v0/messages/" + hash}
	if domain != "" {
		label, err := crn.HostLabel(hash)
		if err != nil {
			return u, err
		}
		u.Host = "https://" + label + "." + strings.TrimPrefix(domain, ".")
	}
	return u, nil
}

// uploadCode stores the code at path with a STORE message (ref: the STORE
// it amends, or none) and returns the code encoding and the STORE's hash.
// A directory is zipped into a temporary file first.
func uploadCode(ctx context.Context, g *globals, c *client.Client, s message.Signer, path, ref string, pm *progressMode) (string, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", "", err
	}
	encoding, file := "plain", path
	if st.IsDir() {
		tmp, err := os.CreateTemp("", "aleph-program-*.zip")
		if err != nil {
			return "", "", err
		}
		defer os.Remove(tmp.Name())
		err = zipDir(tmp, path)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", "", fmt.Errorf("zip %s: %w", path, err)
		}
		encoding, file = "zip", tmp.Name()
		if st, err = os.Stat(file); err != nil {
			return "", "", err
		}
	} else if !st.Mode().IsRegular() {
		return "", "", fmt.Errorf("%s is not a file or a directory", path)
	}
	progress, done := pm.callback("upload", st.Size())
	res, err := c.StoreFile(ctx, s, file, client.StoreParams{Ref: ref, Channel: g.channel, Sync: true,
		Size: st.Size(), Progress: progress})
	done()
	if err != nil {
		return "", "", fmt.Errorf("upload code: %w", err)
	}
	if res.Status != client.StatusProcessed {
		return "", "", fmt.Errorf("the code's STORE message %s is %s", res.Message.ItemHash, res.Status)
	}
	return encoding, res.Message.ItemHash, nil
}

// zipDir writes the files under dir into w as a zip, with paths relative
// to dir. Symbolic links are not followed.
func zipDir(w io.Writer, dir string) error {
	zw := zip.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !d.IsDir() && !info.Mode().IsRegular() {
			return nil
		}
		h, err := zip.FileInfoHeader(info)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
			_, err = zw.CreateHeader(h)
			return err
		}
		h.Method = zip.Deflate
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(fw, f)
		return err
	})
	if err != nil {
		return err
	}
	return zw.Close()
}

// wasmMarker returns the ref of the WASM runtime marker: its file hash,
// after uploading it with a STORE unless the node already has the file.
func wasmMarker(ctx context.Context, g *globals, c *client.Client, s message.Signer) (string, error) {
	sum := sha256.Sum256([]byte(crn.WASMRuntimeMarker))
	hash := hex.EncodeToString(sum[:])
	if _, err := c.FileMetadata(ctx, hash); err == nil {
		return hash, nil
	} else if !errors.Is(err, client.ErrNotFound) {
		return "", err
	}
	res, err := c.Store(ctx, s, bytes.NewReader([]byte(crn.WASMRuntimeMarker)), client.StoreParams{
		Channel: g.channel, Sync: true})
	if err != nil {
		return "", fmt.Errorf("upload the wasm runtime marker: %w", err)
	}
	if res.Status != client.StatusProcessed {
		return "", fmt.Errorf("the wasm runtime marker's STORE message %s is %s", res.Message.ItemHash, res.Status)
	}
	return hash, nil
}

// publishProgram signs and sends a PROGRAM message with content pc; a
// content over client.MaxInlineContent goes through add_json, as the SDK.
func publishProgram(ctx context.Context, g *globals, c *client.Client, s message.Signer, pc programContent, t time.Time) (*message.Message, client.Status, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(pc); err != nil {
		return nil, "", err
	}
	content := strings.TrimSuffix(b.String(), "\n")
	var m *message.Message
	if len(content) >= client.MaxInlineContent {
		hash, err := c.AddJSON(ctx, []byte(content))
		if err != nil {
			return nil, "", err
		}
		m = &message.Message{Type: message.TypeProgram, ItemType: message.ItemStorage, ItemHash: hash,
			Time: float64(t.UnixMilli()) / 1000, Channel: g.channel}
		if err := message.Sign(s, m); err != nil {
			return nil, "", err
		}
	} else {
		var err error
		if m, err = message.NewInline(s, message.TypeProgram, g.channel, content, t); err != nil {
			return nil, "", err
		}
	}
	st, err := c.Submit(ctx, m, true)
	if err != nil {
		return nil, "", err
	}
	return m, st, nil
}

// programInfo is what list shows of a PROGRAM content.
type programInfo struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Code    message.CodeContent `json:"code"`
	Runtime message.Ref         `json:"runtime"`
	On      struct {
		Persistent bool `json:"persistent"`
	} `json:"on"`
}

func newProgramListCmd(g *globals) *cobra.Command {
	var (
		address          string
		page, pagination int
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the PROGRAM messages of an address, newest first",
		Example: `  aleph program list
  aleph program list --address 0xAbC…
  aleph --json program list | jq -r '.programs[].item_hash'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if pagination < 1 || page < 1 {
				return errors.New("--pagination and --page must be at least 1")
			}
			addr, err := g.addressOr(address)
			if err != nil {
				return err
			}
			p, err := g.client().Messages(cmd.Context(), client.MessageFilter{Types: []message.Type{message.TypeProgram},
				Addresses: []string{addr}, Page: page, Pagination: pagination})
			if err != nil {
				return err
			}
			if g.json {
				type item struct {
					ItemHash string          `json:"item_hash"`
					Time     float64         `json:"time"`
					Content  json.RawMessage `json:"content"`
				}
				items := make([]item, len(p.Messages))
				for i, m := range p.Messages {
					items[i] = item{m.ItemHash, m.Time, m.Content}
				}
				return g.printJSON(map[string]any{"address": addr, "programs": items,
					"pagination_page": p.Page, "pagination_total": p.Total})
			}
			tw := g.table()
			fmt.Fprintln(tw, "HASH\tNAME\tRUNTIME\tCODE\tCREATED")
			for _, m := range p.Messages {
				var pi programInfo
				_ = json.Unmarshal(m.Content, &pi)
				name := pi.Metadata.Name
				if name == "" {
					name = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.ItemHash, name, pi.Runtime.Ref, pi.Code.Ref, fmtTime(m.Time))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(g.out, "%s: %d programs (page %d)\n", addr, p.Total, page)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&address, "address", "", "owner of the programs (default: the account's address)")
	f.IntVar(&pagination, "pagination", 100, "programs per page")
	f.IntVar(&page, "page", 1, "page, from 1")
	return cmd
}

// program reads the PROGRAM message hash from the node.
func program(ctx context.Context, c *client.Client, hash string) (*client.Message, *programInfo, error) {
	if err := checkHash(hash); err != nil {
		return nil, nil, err
	}
	r, err := c.Message(ctx, hash)
	if err != nil {
		return nil, nil, notFound(err, hash)
	}
	if r.Message == nil || r.Status != client.StatusProcessed {
		return nil, nil, fmt.Errorf("program %s is %s", hash, r.Status)
	}
	if r.Message.Type != message.TypeProgram {
		return nil, nil, fmt.Errorf("%s is a %s message, not a PROGRAM", hash, r.Message.Type)
	}
	var pi programInfo
	if err := json.Unmarshal(r.Message.Content, &pi); err != nil {
		return nil, nil, fmt.Errorf("program %s has a malformed content: %w", hash, err)
	}
	return r.Message, &pi, nil
}

func newProgramUpdateCmd(g *globals) *cobra.Command {
	var pm progressMode
	cmd := &cobra.Command{
		Use:   "update <program-hash> <path>",
		Short: "Upload new code for a program, as an amend of its code STORE",
		Long: `Upload the code at <path> (a file, or a directory that is zipped) with a STORE
message whose ref is the program's code.ref: an amend of the code. The
PROGRAM message itself is unchanged, so its hash and URLs stay the same.
Compute nodes run the new code only when the program's code has use_latest
(as "aleph program upload" writes it); otherwise the update is uploaded but
not used, and the command says so. The encoding (plain or zip) must stay the
same as the program's.`,
		Example: `  aleph program update 5c2e…9a1 ./app
  aleph --json program update 5c2e…9a1 main.wasm | jq -r .item_hash`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c := cmd.Context(), g.client()
			m, pi, err := program(ctx, c, args[0])
			if err != nil {
				return err
			}
			s, err := g.signer()
			if err != nil {
				return err
			}
			if m.Sender != s.Address() {
				return fmt.Errorf("program %s belongs to %s, not to the account %s", m.ItemHash, m.Sender, s.Address())
			}
			st, err := os.Stat(args[1])
			if err != nil {
				return err
			}
			if enc := map[bool]string{true: "zip", false: "plain"}[st.IsDir()]; enc != pi.Code.Encoding {
				return fmt.Errorf("the program's code is %s, %s would be %s", pi.Code.Encoding, args[1], enc)
			}
			_, store, err := uploadCode(ctx, g, c, s, args[1], pi.Code.Ref, &pm)
			if err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"item_hash": store, "program": m.ItemHash, "code_ref": pi.Code.Ref,
					"use_latest": pi.Code.UseLatest})
			}
			tw := g.table()
			fmt.Fprintf(tw, "item_hash:\t%s\namends:\t%s (code of %s)\n", store, pi.Code.Ref, m.ItemHash)
			if err := tw.Flush(); err != nil {
				return err
			}
			if !pi.Code.UseLatest {
				fmt.Fprintln(g.out, "warning: the program's code has no use_latest: compute nodes keep running the old code")
			}
			return nil
		},
	}
	pm.addFlags(cmd)
	return cmd
}

func newProgramDeleteCmd(g *globals) *cobra.Command {
	var (
		reason string
		code   bool
	)
	cmd := &cobra.Command{
		Use:   "delete <program-hash>",
		Short: "Forget a PROGRAM message (and with --code its code STORE), so that nodes stop running it",
		Long: `Forget the PROGRAM message: compute nodes stop running it and the core node
no longer lists it. With --code, a second FORGET then forgets the code's
STORE message (the node refuses to forget code that a live program uses).
Amends of the code made by "aleph program update" are not forgotten: list
them with "aleph message find --message-types STORE --refs <code ref>".`,
		Example: `  aleph program delete 5c2e…9a1
  aleph program delete 5c2e…9a1 --code --reason "replaced"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !code {
				return g.forget(cmd, args, reason, true)
			}
			ctx, c := cmd.Context(), g.client()
			_, pi, err := program(ctx, c, args[0])
			if err != nil {
				return err
			}
			s, err := g.signer()
			if err != nil {
				return err
			}
			// The node refuses to forget a STORE that a live PROGRAM uses,
			// even in the same FORGET: the program goes first.
			var res [2]*client.Result
			for i, h := range []string{args[0], pi.Code.Ref} {
				if res[i], err = c.Forget(ctx, s, client.ForgetParams{Hashes: []string{h}, Reason: reason,
					Channel: g.channel, Sync: true}); err != nil {
					return err
				}
			}
			if g.json {
				return g.printJSON(map[string]any{"item_hash": res[0].Message.ItemHash, "status": res[0].Status,
					"code_forget": map[string]any{"item_hash": res[1].Message.ItemHash, "status": res[1].Status}})
			}
			tw := g.table()
			fmt.Fprintf(tw, "item_hash:\t%s\nstatus:\t%s\ncode forget:\t%s\ncode status:\t%s\n",
				res[0].Message.ItemHash, statusLine(res[0].Status), res[1].Message.ItemHash, statusLine(res[1].Status))
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the program is deleted")
	cmd.Flags().BoolVar(&code, "code", false, "also forget the program's code STORE message")
	return cmd
}

// crnFlags are the flags of the owner operations on a compute node.
type crnFlags struct {
	url, domain string
}

func (f *crnFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.url, "crn-url", envOr("ALEPH_CRN_URL", defaultCRNURL), "compute node running the program (env ALEPH_CRN_URL)")
	cmd.Flags().StringVar(&f.domain, "crn-domain", "", "the node's domain, named in the signature (default: its DOMAIN_NAME at /status/config)")
}

// node is the client of the compute node.
func (f *crnFlags) node() *client.CRN {
	opts := []client.CRNOption{client.WithCRNClient(client.WithUserAgent("goaleph-cli/0.1"))}
	if f.domain != "" {
		opts = append(opts, client.WithCRNDomain(f.domain))
	}
	return client.NewCRN(f.url, opts...)
}

// printLogs prints the execution logs of hash so far, signed by the
// account (the owner's operation), or as JSON with --json.
func (f *crnFlags) printLogs(ctx context.Context, g *globals, hash string) error {
	if err := checkHash(hash); err != nil {
		return err
	}
	s, err := g.signer()
	if err != nil {
		return err
	}
	lines, err := f.node().Logs(ctx, s, hash)
	if err != nil {
		return f.fail(err)
	}
	if g.json {
		return g.printJSON(lines)
	}
	for _, l := range lines {
		ts := l.Timestamp
		if us, err := strconv.ParseInt(l.Timestamp, 10, 64); err == nil {
			ts = time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000Z")
		}
		fmt.Fprintf(g.out, "%s %s %s\n", ts, l.File, l.Message)
	}
	return nil
}

// fail words an error of the compute node for the user: a refusal with
// the node's URL and reason, a dial failure with what could not be
// reached.
func (f *crnFlags) fail(err error) error {
	var ce *client.Error
	var oe *net.OpError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce):
		return fmt.Errorf("compute node %s answered %d: %s", f.url, ce.Status, ce.Message)
	case errors.As(err, &oe) && oe.Op == "dial":
		return fmt.Errorf("cannot reach the compute node at %s: %v", f.url, oe.Err)
	}
	return err
}

func newProgramLogsCmd(g *globals) *cobra.Command {
	var (
		f      crnFlags
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "logs <program-hash>",
		Short: "Print the output of a program's execution on a compute node (owner only)",
		Long: `Print what the program's current execution on the compute node wrote to
stdout and stderr, oldest first. The request is signed by the account, which
must be the program's owner (spec compute-node §5.1).`,
		Example: `  aleph program logs 5c2e…9a1
  aleph program logs 5c2e…9a1 --crn-url https://crn.example.org
  aleph --json program logs 5c2e…9a1 | jq -r '.[].MESSAGE'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if follow {
				return followLogs(cmd.Context(), g, &f, args[0])
			}
			return f.printLogs(cmd.Context(), g, args[0])
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "print the lines so far, then each new one until the execution stops")
	return cmd
}

// followLogs prints the log stream of the execution of hash (the node's
// stream_logs WebSocket) until it ends.
func followLogs(ctx context.Context, g *globals, f *crnFlags, hash string) error {
	if err := checkHash(hash); err != nil {
		return err
	}
	s, err := g.signer()
	if err != nil {
		return err
	}
	domain, err := f.node().Domain(ctx)
	if err != nil {
		return f.fail(err)
	}
	path := "/control/machine/" + hash + "/stream_logs"
	h, err := client.OwnerHeaders(s, domain, http.MethodGet, path, time.Minute)
	if err != nil {
		return err
	}
	u := strings.TrimRight(f.url, "/") + path
	if rest, ok := strings.CutPrefix(u, "http"); ok {
		u = "ws" + rest // http → ws, https → wss
	}
	conn, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		return fmt.Errorf("compute node %s: %w", f.url, err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	auth := map[string]json.RawMessage{}
	for _, name := range []string{client.HeaderSignedPubKey, client.HeaderSignedOperation} {
		auth[name] = json.RawMessage(h.Get(name))
	}
	b, _ := json.Marshal(map[string]any{"auth": auth})
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("compute node %s: %w", f.url, err)
	}
	var frame struct {
		Status, Reason, Type, Message string
	}
	for first := true; ; first = false {
		_, b, err := conn.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				return nil
			}
			return fmt.Errorf("compute node %s: log stream: %w", f.url, err)
		}
		frame.Status, frame.Reason, frame.Type, frame.Message = "", "", "", ""
		if err := json.Unmarshal(b, &frame); err != nil {
			return fmt.Errorf("compute node %s: malformed log frame: %w", f.url, err)
		}
		if first {
			if frame.Status != "connected" {
				return fmt.Errorf("compute node %s: log stream refused: %s", f.url, frame.Reason)
			}
			continue
		}
		if g.json {
			if err := json.NewEncoder(g.out).Encode(map[string]string{"type": frame.Type, "message": frame.Message}); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(g.out, "%s %s\n", frame.Type, frame.Message)
	}
}

// newProgramOwnerOpCmd is stop or reboot.
func newProgramOwnerOpCmd(g *globals, op, short, long string) *cobra.Command {
	var f crnFlags
	cmd := &cobra.Command{
		Use:     op + " <program-hash>",
		Short:   short,
		Long:    long,
		Example: "  aleph program " + op + " 5c2e…9a1 --crn-url http://127.0.0.1:4020",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkHash(args[0]); err != nil {
				return err
			}
			s, err := g.signer()
			if err != nil {
				return err
			}
			text, err := f.node().Operate(cmd.Context(), s, op, args[0])
			if err != nil {
				return f.fail(err)
			}
			if g.json {
				return g.printJSON(map[string]any{"item_hash": args[0], "operation": op, "result": text})
			}
			fmt.Fprintln(g.out, text)
			return nil
		},
	}
	f.add(cmd)
	return cmd
}
