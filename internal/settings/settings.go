// Package settings describes the settings of a role once, as data: each
// Setting names its flag, its dotted key in the YAML configuration file,
// its environment variable, its default and its help, and binds them to a
// field of the role's configuration. A Table registers the flags, applies
// the file and the environment (flag > environment > file > default),
// reports where each value came from and fills zero-valued fields with
// the defaults.
package settings

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// Source is where a setting's value came from.
type Source int

// The sources, from the weakest to the strongest.
const (
	Default Source = iota
	File
	Environment
	Flag
)

// String is the source's name as --print-config shows it.
func (s Source) String() string {
	switch s {
	case File:
		return "file"
	case Environment:
		return "environment"
	case Flag:
		return "flag"
	}
	return "default"
}

// Setting is one setting of a role.
type Setting struct {
	// Name is the flag's name, e.g. "database-url".
	Name string
	// Key is the dotted path in the YAML file, e.g. "database.url".
	Key string
	// Env is the environment variable, e.g. "ALEPH_DATABASE_URL".
	Env string
	// Help is the flag's usage text.
	Help string
	// Secret masks the value when printed: the password of a URL, any
	// other value entirely.
	Secret bool
	// Inverted makes the YAML key the negation of a bool flag (the key
	// p2p.enabled of the flag --no-p2p).
	Inverted bool

	v      value
	source Source
}

// value is a typed target.
type value interface {
	register(f *pflag.FlagSet, s *Setting)
	parse(string) error        // an environment variable
	decode(n *yaml.Node) error // a YAML value
	format() string            // the current value
	formatDefault() string     // the default, as the flag shows it
	invert()                   // bools only
}

// Default is the setting's default, as its YAML key has it (the negation
// of the flag's for an inverted bool).
func (s *Setting) Default() string { return s.v.formatDefault() }

// Value is the setting's current value, masked when it is secret.
func (s *Setting) Value() string {
	v := s.v.format()
	if s.Secret {
		return Mask(v)
	}
	return v
}

// Source is where the setting's value came from (after Load).
func (s *Setting) Source() Source { return s.source }

// Mask hides the secret part of v: a URL's password, else all of a
// non-empty value.
func Mask(v string) string {
	if v == "" {
		return ""
	}
	if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.Opaque == "" {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		return u.String()
	}
	return "xxxxx"
}

type stringV struct {
	p   *string
	def string
}

func (v *stringV) register(f *pflag.FlagSet, s *Setting) { f.StringVar(v.p, s.Name, v.def, s.Help) }
func (v *stringV) parse(x string) error                  { *v.p = x; return nil }
func (v *stringV) decode(n *yaml.Node) error             { return scalar(n, v.p) }
func (v *stringV) format() string                        { return *v.p }
func (v *stringV) formatDefault() string                 { return v.def }
func (v *stringV) invert()                               {}

// String is a string setting.
func String(p *string, name, key, def, help string) *Setting {
	return &Setting{Name: name, Key: key, Help: help, v: &stringV{p, def}}
}

type boolV struct {
	p        *bool
	def, inv bool
}

func (v *boolV) register(f *pflag.FlagSet, s *Setting) { f.BoolVar(v.p, s.Name, v.def, s.Help) }
func (v *boolV) parse(x string) error {
	b, err := strconv.ParseBool(x)
	if err == nil {
		*v.p = b
	}
	return err
}
func (v *boolV) decode(n *yaml.Node) error {
	var b bool
	if err := scalar(n, &b); err != nil {
		return err
	}
	*v.p = b != v.inv
	return nil
}

// format and formatDefault speak in the YAML key's sense.
func (v *boolV) format() string        { return strconv.FormatBool(*v.p != v.inv) }
func (v *boolV) formatDefault() string { return strconv.FormatBool(v.def != v.inv) }
func (v *boolV) invert()               { v.inv = true }

// Bool is a bool setting.
func Bool(p *bool, name, key string, def bool, help string) *Setting {
	return &Setting{Name: name, Key: key, Help: help, v: &boolV{p: p, def: def}}
}

// InvertedBool is a bool flag whose YAML key is its negation: the flag
// --no-p2p and the key p2p.enabled. Its environment variable follows the
// flag.
func InvertedBool(p *bool, name, key string, help string) *Setting {
	s := Bool(p, name, key, false, help)
	s.Inverted = true
	s.v.invert()
	return s
}

type intV struct {
	p   *int
	def int
}

func (v *intV) register(f *pflag.FlagSet, s *Setting) { f.IntVar(v.p, s.Name, v.def, s.Help) }
func (v *intV) parse(x string) error {
	i, err := strconv.Atoi(x)
	if err == nil {
		*v.p = i
	}
	return err
}
func (v *intV) decode(n *yaml.Node) error { return scalar(n, v.p) }
func (v *intV) format() string            { return strconv.Itoa(*v.p) }
func (v *intV) formatDefault() string     { return strconv.Itoa(v.def) }
func (v *intV) invert()                   {}

// Int is an int setting.
func Int(p *int, name, key string, def int, help string) *Setting {
	return &Setting{Name: name, Key: key, Help: help, v: &intV{p, def}}
}

type int64V struct {
	p   *int64
	def int64
}

func (v *int64V) register(f *pflag.FlagSet, s *Setting) { f.Int64Var(v.p, s.Name, v.def, s.Help) }
func (v *int64V) parse(x string) error {
	i, err := strconv.ParseInt(x, 10, 64)
	if err == nil {
		*v.p = i
	}
	return err
}
func (v *int64V) decode(n *yaml.Node) error { return scalar(n, v.p) }
func (v *int64V) format() string            { return strconv.FormatInt(*v.p, 10) }
func (v *int64V) formatDefault() string     { return strconv.FormatInt(v.def, 10) }
func (v *int64V) invert()                   {}

// Int64 is an int64 setting.
func Int64(p *int64, name, key string, def int64, help string) *Setting {
	return &Setting{Name: name, Key: key, Help: help, v: &int64V{p, def}}
}

type durationV struct {
	p   *time.Duration
	def time.Duration
}

func (v *durationV) register(f *pflag.FlagSet, s *Setting) { f.DurationVar(v.p, s.Name, v.def, s.Help) }
func (v *durationV) parse(x string) error {
	d, err := time.ParseDuration(x)
	if err == nil {
		*v.p = d
	}
	return err
}
func (v *durationV) decode(n *yaml.Node) error {
	var s string
	if err := scalar(n, &s); err != nil {
		return err
	}
	return v.parse(s)
}
func (v *durationV) format() string        { return v.p.String() }
func (v *durationV) formatDefault() string { return v.def.String() }
func (v *durationV) invert()               {}

// Duration is a time.Duration setting ("24h", "90s").
func Duration(p *time.Duration, name, key string, def time.Duration, help string) *Setting {
	return &Setting{Name: name, Key: key, Help: help, v: &durationV{p, def}}
}

type listV struct {
	p     *[]string
	def   []string
	split bool // the flag splits on commas (StringSlice) or not (StringArray)
}

func (v *listV) register(f *pflag.FlagSet, s *Setting) {
	if v.split {
		f.StringSliceVar(v.p, s.Name, v.def, s.Help)
	} else {
		f.StringArrayVar(v.p, s.Name, v.def, s.Help)
	}
}
func (v *listV) parse(x string) error {
	var l []string
	for _, e := range strings.Split(x, ",") {
		if e = strings.TrimSpace(e); e != "" {
			l = append(l, e)
		}
	}
	*v.p = l
	return nil
}
func (v *listV) decode(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var s string
		if err := scalar(n, &s); err != nil {
			return err
		}
		*v.p = []string{s}
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return errors.New("not a list")
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*v.p = l
	return nil
}
func (v *listV) format() string        { return strings.Join(*v.p, ",") }
func (v *listV) formatDefault() string { return strings.Join(v.def, ",") }
func (v *listV) invert()               {}

// Strings is a list setting whose flag is repeatable or comma-separated;
// its YAML key takes a sequence, its environment variable a
// comma-separated list.
func Strings(p *[]string, name, key string, def []string, help string) *Setting {
	return &Setting{Name: name, Key: key, Help: help, v: &listV{p: p, def: def, split: true}}
}

// StringArray is a list setting whose flag is repeatable and does not
// split on commas.
func StringArray(p *[]string, name, key string, def []string, help string) *Setting {
	return &Setting{Name: name, Key: key, Help: help, v: &listV{p: p, def: def}}
}

// scalar decodes a YAML scalar into p.
func scalar(n *yaml.Node, p any) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("not a single value")
	}
	return n.Decode(p)
}

// Table is the settings of one role.
type Table struct {
	// Prefix is the environment variables' prefix, e.g. "ALEPH_".
	Prefix   string
	Settings []*Setting
}

// New returns the table of settings, giving each one without Env the
// variable prefix + its flag name in upper case with underscores.
func New(prefix string, s ...*Setting) *Table {
	for _, x := range s {
		if x.Env == "" {
			x.Env = prefix + strings.ToUpper(strings.ReplaceAll(x.Name, "-", "_"))
		}
	}
	return &Table{Prefix: prefix, Settings: s}
}

// Lookup returns the setting of a flag name, or nil.
func (t *Table) Lookup(name string) *Setting {
	for _, s := range t.Settings {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Register defines each setting's flag on f with its default; its usage
// names the environment variable and the YAML key too.
func (t *Table) Register(f *pflag.FlagSet) {
	for _, s := range t.Settings {
		u := *s
		inv := ""
		if s.Inverted {
			inv = ": the inverse"
		}
		u.Help = fmt.Sprintf("%s (env %s, key %s%s)", s.Help, s.Env, s.Key, inv)
		s.v.register(f, &u)
	}
}

// Load applies the YAML file at path (none when empty) and then the
// environment (environ, "KEY=value" pairs as os.Environ returns) to the
// settings whose flag was not given on f, and records each one's source.
func (t *Table) Load(f *pflag.FlagSet, path string, environ []string) error {
	changed := func(s *Setting) bool { return f != nil && f.Changed(s.Name) }
	for _, s := range t.Settings {
		s.source = Default
		if changed(s) {
			s.source = Flag
		}
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if err := t.loadYAML(b, changed); err != nil {
			return fmt.Errorf("config: %s: %w", path, err)
		}
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for _, s := range t.Settings {
		v, ok := env[s.Env]
		if !ok || v == "" || changed(s) {
			continue
		}
		if err := s.v.parse(v); err != nil {
			return fmt.Errorf("%s: %q: %w", s.Env, v, err)
		}
		s.source = Environment
	}
	return nil
}

func (t *Table) loadYAML(b []byte, changed func(*Setting) bool) error {
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	if len(doc.Content) == 0 {
		return nil
	}
	byKey := map[string]*Setting{}
	for _, s := range t.Settings {
		byKey[s.Key] = s
	}
	var walk func(n *yaml.Node, prefix string) error
	walk = func(n *yaml.Node, prefix string) error {
		if n.Kind != yaml.MappingNode {
			if prefix == "" {
				return fmt.Errorf("line %d: the file is not a mapping of keys", n.Line)
			}
			return fmt.Errorf("line %d: %s: not a known key (did you mean %q?)", n.Line, prefix, t.closest(prefix))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if prefix != "" {
				key = prefix + "." + k.Value
			}
			if s := byKey[key]; s != nil {
				if v.Tag == "!!null" {
					continue
				}
				if changed(s) {
					continue
				}
				if err := s.v.decode(v); err != nil {
					return fmt.Errorf("line %d: %s: %v", v.Line, key, cleanYAMLError(err))
				}
				s.source = File
				continue
			}
			if t.isSection(key) {
				if v.Tag == "!!null" {
					continue
				}
				if err := walk(v, key); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("line %d: unknown key %s (did you mean %s?)", k.Line, key, t.closest(key))
		}
		return nil
	}
	return walk(doc.Content[0], "")
}

// cleanYAMLError drops the yaml package's prefix from err.
func cleanYAMLError(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  ")
}

// isSection reports whether key is a prefix of known keys.
func (t *Table) isSection(key string) bool {
	for _, s := range t.Settings {
		if strings.HasPrefix(s.Key, key+".") {
			return true
		}
	}
	return false
}

// closest is the known key or section nearest to key in edit distance.
func (t *Table) closest(key string) string {
	best, bestD := "", -1
	seen := map[string]bool{}
	for _, s := range t.Settings {
		parts := strings.Split(s.Key, ".")
		for i := range parts {
			c := strings.Join(parts[:i+1], ".")
			if seen[c] {
				continue
			}
			seen[c] = true
			if d := distance(key, c); bestD < 0 || d < bestD {
				best, bestD = c, d
			}
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Print writes one line per setting, aligned: key, value as the key has
// it (masked when secret) and source.
func (t *Table) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, s := range t.Settings {
		fmt.Fprintf(tw, "%s\t= %s\t(%s)\n", s.Key, s.Value(), s.source)
	}
	return tw.Flush()
}

// Keys is the list of YAML keys, for help texts.
func (t *Table) Keys() []string {
	k := make([]string, len(t.Settings))
	for i, s := range t.Settings {
		k[i] = s.Key
	}
	return k
}

var mdEscape = strings.NewReplacer("|", "\\|", "<", "&lt;", ">", "&gt;")

// Markdown is the settings as a Markdown table (key, flag, environment
// variable, default, help), for the user documentation.
func (t *Table) Markdown() string {
	var b strings.Builder
	b.WriteString("| YAML key | Flag | Environment | Default | Description |\n|---|---|---|---|---|\n")
	for _, s := range t.Settings {
		def := s.Default()
		if def != "" {
			def = "`" + def + "`"
		}
		key := "`" + s.Key + "`"
		if s.Inverted {
			key += " (inverse)"
		}
		fmt.Fprintf(&b, "| %s | `--%s` | `%s` | %s | %s |\n", key, s.Name, s.Env, def, mdEscape.Replace(s.Help))
	}
	return b.String()
}
