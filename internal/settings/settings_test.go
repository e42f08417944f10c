package settings

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

type conf struct {
	URL     string
	Listen  string
	Off     bool
	Verbose bool
	N       int
	Size    int64
	Period  time.Duration
	Peers   []string
	Signers []string
}

func table(c *conf) *Table {
	db := String(&c.URL, "database-url", "database.url", "", "database")
	db.Secret = true
	return New("T_",
		db,
		String(&c.Listen, "listen", "api.listen", "127.0.0.1:1", "address"),
		InvertedBool(&c.Off, "no-p2p", "p2p.enabled", "off"),
		Bool(&c.Verbose, "verbose", "verbose", false, "verbose"),
		Int(&c.N, "retries", "pipeline.retries", 10, "retries"),
		Int64(&c.Size, "size", "api.size", 1<<20, "size"),
		Duration(&c.Period, "period", "storage.period", 24*time.Hour, "period"),
		Strings(&c.Peers, "peer", "p2p.peers", nil, "peers"),
		StringArray(&c.Signers, "signer", "signers", nil, "signers"),
	)
}

func writeFile(t *testing.T, yml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yml")
	if err := os.WriteFile(p, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func load(t *testing.T, args []string, yml string, env []string) (*conf, *Table, error) {
	t.Helper()
	c := new(conf)
	tb := table(c)
	f := pflag.NewFlagSet("x", pflag.ContinueOnError)
	tb.Register(f)
	if err := f.Parse(args); err != nil {
		t.Fatal(err)
	}
	path := ""
	if yml != "" {
		path = writeFile(t, yml)
	}
	err := tb.Load(f, path, env)
	return c, tb, err
}

func TestSettingsPrecedence(t *testing.T) {
	yml := "api:\n  listen: file:1\n  size: 5\nstorage:\n  period: 2h\npipeline:\n  retries: 3\n"
	c, tb, err := load(t, []string{"--retries", "7"}, yml, []string{"T_SIZE=9", "T_PERIOD=", "OTHER=1", "T_RETRIES=8"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "file:1" || c.Size != 9 || c.Period != 2*time.Hour || c.N != 7 || c.URL != "" {
		t.Errorf("values: %+v", c)
	}
	for name, want := range map[string]Source{
		"listen": File, "size": Environment, "period": File, "retries": Flag, "database-url": Default, "verbose": Default,
	} {
		if got := tb.Lookup(name).Source(); got != want {
			t.Errorf("%s: source %v, want %v", name, got, want)
		}
	}
	// Defaults reach the targets through the flags.
	c, _, err = load(t, nil, "", nil)
	if err != nil || c.Listen != "127.0.0.1:1" || c.N != 10 || c.Period != 24*time.Hour || c.Peers != nil {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}

func TestSettingsTypo(t *testing.T) {
	for yml, want := range map[string]string{
		"databse:\n  url: x\n":     "unknown key databse (did you mean database?)",
		"database:\n  ulr: x\n":    "unknown key database.ulr (did you mean database.url?)",
		"api:\n  listn: x\n":       "did you mean api.listen?",
		"\n\nverbos: true\n":       "line 3: unknown key verbos",
		"database: x\n":            "database: not a known key",
		"api:\n  size: big\n":      "api.size",
		"storage:\n  period: 3\n":  "storage.period",
		"p2p:\n  peers: {a: 1}\n":  "p2p.peers",
		"- a\n":                    "not a mapping",
		"database: [\n":            "yaml",
		"api:\n  listen: [a, b]\n": "api.listen",
	} {
		_, _, err := load(t, nil, yml, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", yml, err, want)
		}
	}
	if _, _, err := load(t, nil, "", []string{"T_RETRIES=ten"}); err == nil || !strings.Contains(err.Error(), "T_RETRIES") {
		t.Errorf("bad environment value: %v", err)
	}
	c := new(conf)
	if err := table(c).Load(nil, filepath.Join(t.TempDir(), "missing.yml"), nil); err == nil {
		t.Error("missing file: no error")
	}
}

func TestSettingsTypes(t *testing.T) {
	yml := "p2p:\n  enabled: false\n  peers:\n    - a\n    - b,c\nsigners: [x]\nverbose: yes\nempty:\n"
	_, _, err := load(t, nil, yml, nil)
	if err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("unknown null key: %v", err)
	}
	yml = "p2p:\n  enabled: false\n  peers:\n    - a\n    - b,c\nsigners: [x]\nverbose: true\ndatabase:\n"
	c, tb, err := load(t, []string{"--signer", "y,z"}, yml, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Off || !c.Verbose || !slices.Equal(c.Peers, []string{"a", "b,c"}) || !slices.Equal(c.Signers, []string{"y,z"}) {
		t.Errorf("types: %+v", c)
	}
	if tb.Lookup("database-url").Source() != Default {
		t.Error("a null key is not a value")
	}
	c, _, err = load(t, nil, "p2p:\n  enabled: true\n  peers: a\n", []string{"T_SIGNER=u, v"})
	if err != nil || c.Off || !slices.Equal(c.Peers, []string{"a"}) || !slices.Equal(c.Signers, []string{"u", "v"}) {
		t.Errorf("enabled: %+v %v", c, err)
	}
	c, _, err = load(t, []string{"--no-p2p"}, "p2p:\n  enabled: true\n", []string{"T_VERBOSE=true"})
	if err != nil || !c.Off || !c.Verbose {
		t.Errorf("flag over an inverted key: %+v %v", c, err)
	}
	if _, _, err := load(t, nil, "p2p:\n  enabled: maybe\n", nil); err == nil || !strings.Contains(err.Error(), "p2p.enabled") {
		t.Errorf("bad bool: %v", err)
	}
}

func TestSettingsPrint(t *testing.T) {
	_, tb, err := load(t, []string{"--peer", "a,b"}, "database:\n  url: postgres://u:hunter2@db/x\n", []string{"T_LISTEN=0.0.0.0:2"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := tb.Print(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("password printed:\n%s", out)
	}
	for _, want := range []string{
		"database.url      = postgres://u:xxxxx@db/x  (file)",
		"api.listen        = 0.0.0.0:2                (environment)",
		"p2p.peers         = a,b                      (flag)",
		"storage.period    = 24h0m0s                  (default)",
		"p2p.enabled       = true                     (default)",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != len(tb.Settings) {
		t.Errorf("%d lines for %d settings", n, len(tb.Settings))
	}
}

func TestMask(t *testing.T) {
	for v, want := range map[string]string{
		"":                           "",
		"sqlite:///var/aleph.db":     "sqlite:///var/aleph.db",
		"postgres://u@db/x":          "postgres://u@db/x",
		"postgres://u:secret@db/x":   "postgres://u:xxxxx@db/x",
		"0123456789abcdef":           "xxxxx",
		"host=db password=secret x=": "xxxxx",
	} {
		if got := Mask(v); got != want {
			t.Errorf("Mask(%q) = %q, want %q", v, got, want)
		}
	}
}

func TestSettingsMarkdown(t *testing.T) {
	md := table(new(conf)).Markdown()
	for _, want := range []string{"| `database.url` | `--database-url` | `T_DATABASE_URL` |", "| `p2p.enabled` (inverse) | `--no-p2p` | `T_NO_P2P` | `true` |", "`24h0m0s`"} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in:\n%s", want, md)
		}
	}
}
