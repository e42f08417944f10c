package cli

import (
	"os"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/compute/crn"
	"github.com/goaleph/goaleph/internal/gateway"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/settings"
)

// TestSettingsDocs checks that the user docs hold each role's settings
// table as the table generates it, so that they cannot drift. With
// UPDATE_SETTINGS_DOCS=1 it rewrites them.
func TestSettingsDocs(t *testing.T) {
	for path, table := range map[string]*settings.Table{
		"../../docs/running-a-node.md":         new(node.RoleConfig).Settings(),
		"../../docs/running-a-compute-node.md": new(crn.RoleConfig).Settings(),
		"../../docs/gateway.md":                new(gateway.RoleConfig).Settings(),
	} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		const begin, end = "<!-- settings table: generated from the settings table, see TestSettingsDocs -->\n", "<!-- end of settings table -->\n"
		doc := string(b)
		i, j := strings.Index(doc, begin), strings.Index(doc, end)
		if i < 0 || j < i {
			t.Errorf("%s: no settings table between %q and %q", path, begin, end)
			continue
		}
		want := table.Markdown()
		if got := doc[i+len(begin) : j]; got != want {
			if os.Getenv("UPDATE_SETTINGS_DOCS") == "1" {
				if err := os.WriteFile(path, []byte(doc[:i+len(begin)]+want+doc[j:]), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			t.Errorf("%s: the settings table is not the generated one (UPDATE_SETTINGS_DOCS=1 go test -run TestSettingsDocs rewrites it); want:\n%s", path, want)
		}
		for _, k := range table.Keys() {
			if !strings.Contains(doc, "`"+k+"`") {
				t.Errorf("%s: key %s missing", path, k)
			}
		}
	}
}
