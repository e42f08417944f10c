package cli

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/goaleph/goaleph/internal/store/dbcopy"
	"github.com/goaleph/goaleph/internal/store/storeurl"
)

func newNodeDBCmd() *cobra.Command {
	return group("db", "Manage a core node's database",
		`  aleph node db copy --from sqlite:///var/lib/aleph/aleph.db --to postgres://aleph@localhost/aleph`,
		newNodeDBCopyCmd())
}

func newNodeDBCopyCmd() *cobra.Command {
	var (
		from, to string
		force    bool
		pm       progressMode
	)
	cmd := &cobra.Command{
		Use:   "copy --from URL --to URL",
		Short: "Copy a node's whole database to another database (SQLite ⇄ PostgreSQL)",
		Long: `Copy every table of a core node's database from one database URL to another:
SQLite to PostgreSQL (to move a node to PostgreSQL), PostgreSQL to SQLite, or
between two databases of one kind. URLs are sqlite:///path/to/aleph.db or
postgres://user:password@host/dbname, as for "aleph node run --database-url".

Stop the node first: the copy reads one snapshot of the source, and whatever
the node writes after it would be missing from the copy. The file store (the
"files" directory of the data directory) is not copied: keep the same data
directory when you restart the node on the new database.

The destination's schema is created if needed (a PostgreSQL database must
exist: createdb). A destination that already holds data is refused; --force
empties it first. The copy is one transaction: if it fails or is
interrupted, the destination is left as it was (a SQLite destination's -wal
file grows to about the size of the database meanwhile). At the end the rows
of every table are counted on both sides and the counts printed.

A progress bar per table is drawn on stderr when it is a terminal (not with
--json); --progress forces it, --no-progress hides it.`,
		Example: `  # stop the node, then:
  aleph node db copy --from sqlite:///var/lib/aleph/aleph.db --to postgres://aleph@localhost/aleph
  aleph node run --data-dir /var/lib/aleph --database-url postgres://aleph@localhost/aleph

  # back to SQLite, into a new file
  aleph node db copy --from postgres://aleph@localhost/aleph --to sqlite:///var/lib/aleph/aleph-copy.db
  aleph --json node db copy --from sqlite://data/aleph.db --to postgres://aleph@db/aleph --force`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			asJSON, _ := cmd.Flags().GetBool("json")
			for _, u := range []struct{ name, url string }{{"--from", from}, {"--to", to}} {
				if _, err := storeurl.Kind(u.url); err != nil {
					return fmt.Errorf("%s: %w", u.name, err)
				}
			}
			bars := &tableBars{show: pm.force || !asJSON && pm.show(-1)}
			res, err := dbcopy.Copy(cmd.Context(), from, to, dbcopy.Options{Force: force, Progress: bars.update})
			bars.close()
			if err != nil {
				msg := hidePasswords(err.Error(), from, to)
				if errors.Is(err, dbcopy.ErrNotEmpty) {
					msg += ": copy into a new database, or use --force to replace its data"
				}
				return fmt.Errorf("copy %s to %s: %s", storeurl.Redact(from), storeurl.Redact(to), msg)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				g := &globals{out: out}
				return g.printJSON(map[string]any{
					"from": storeurl.Redact(from), "to": storeurl.Redact(to),
					"tables": res.Tables, "rows": res.Rows, "seconds": res.Duration.Seconds(),
				})
			}
			g := &globals{out: out}
			w := g.table()
			fmt.Fprintln(w, "TABLE\tROWS")
			for _, c := range res.Tables {
				fmt.Fprintf(w, "%s\t%d\n", c.Table, c.Rows)
			}
			fmt.Fprintf(w, "total\t%d\n", res.Rows)
			if err := w.Flush(); err != nil {
				return err
			}
			rate := float64(res.Rows) / max(res.Duration.Seconds(), 1e-3)
			_, err = fmt.Fprintf(out, "Copied %s to %s in %s (%.0f rows/s); row counts verified.\n",
				storeurl.Redact(from), storeurl.Redact(to), res.Duration.Round(time.Millisecond), rate)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "database to copy: sqlite:///path/aleph.db or postgres://user@host/db")
	f.StringVar(&to, "to", "", "database to fill (created or migrated; must hold no data unless --force)")
	f.BoolVar(&force, "force", false, "empty the destination's tables first if it holds data")
	cmd.MarkFlagRequired("from")
	cmd.MarkFlagRequired("to")
	pm.addFlags(cmd)
	return cmd
}

// tableBars draws one progress bar per table on stderr.
type tableBars struct {
	show  bool
	table string
	bar   *progressbar.ProgressBar
}

func (b *tableBars) update(table string, done, total int64) {
	if !b.show || total == 0 {
		return
	}
	if table != b.table {
		b.close()
		b.table = table
		b.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription(fmt.Sprintf("%-18s", table)),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }),
		)
	}
	_ = b.bar.Set64(done)
}

// close ends the current bar: a table that failed half-way leaves its
// bar where it stopped, on its own line.
func (b *tableBars) close() {
	if b.bar != nil && !b.bar.IsFinished() {
		_ = b.bar.Exit()
		fmt.Fprintln(os.Stderr)
	}
	b.bar, b.table = nil, ""
}

// hidePasswords masks the passwords of the URLs wherever msg repeats them
// (the drivers' errors hide them already; this is a second guard).
func hidePasswords(msg string, urls ...string) string {
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || u.User == nil {
			continue
		}
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return msg
}
