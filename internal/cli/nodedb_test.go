package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/internal/store/storeurl"
	"github.com/goaleph/goaleph/message"
)

func TestNodeDBCopy(t *testing.T) {
	ctx := context.Background()
	src := storeurl.SQLiteURL(filepath.Join(t.TempDir(), "aleph.db"))
	db, err := storeurl.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(ctx, func(tx store.Tx) error {
		for i := range 3 {
			content := `{"address":"0xA","time":1,"type":"note","content":{"i":` + string(rune('0'+i)) + `}}`
			_, err := tx.InsertMessage(&store.Record{Message: message.Message{Chain: "ETH", Sender: "0xA",
				Type: message.TypePost, ItemType: message.ItemInline, ItemContent: content,
				ItemHash: message.InlineHash(content), Time: 1, Signature: "0x"}, Status: store.StatusProcessed, Owner: "0xA"})
			if err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	pg := pgtest.Start(t)
	e := newEnv(t, "http://127.0.0.1:1")

	var res struct {
		To     string `json:"to"`
		Rows   int64  `json:"rows"`
		Tables []struct {
			Table string `json:"table"`
			Rows  int64  `json:"rows"`
		} `json:"tables"`
	}
	out, errs, code := e.run("", "--json", "node", "db", "copy", "--from", src, "--to", pg)
	if code != 0 || errs != "" {
		t.Fatalf("copy: exit %d, stderr %q (no bar when stderr is not a terminal)", code, errs)
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Rows != 4 || len(res.Tables) != 15 || res.Tables[0].Table != "messages" || res.Tables[0].Rows != 3 {
		t.Fatalf("copy --json: %v %s", err, out)
	}
	if line := e.fails("node", "db", "copy", "--from", src, "--to", pg); !strings.Contains(line, "not empty (messages: 3 rows") || !strings.Contains(line, "--force") {
		t.Errorf("second copy: %s", line)
	}
	back := storeurl.SQLiteURL(filepath.Join(t.TempDir(), "back.db"))
	table := e.ok("node", "db", "copy", "--from", pg, "--to", back)
	if !regexp.MustCompile(`(?m)^messages +3$`).MatchString(table) || !strings.Contains(table, "row counts verified") {
		t.Errorf("table output:\n%s", table)
	}
	if out := e.ok("node", "db", "copy", "--from", src, "--to", back, "--force"); !strings.Contains(out, "total") {
		t.Errorf("forced copy:\n%s", out)
	}
	for _, args := range [][]string{
		{"--from", src, "--to", "postgres://aleph:hunter2@127.0.0.1:1/aleph"},
		{"--from", "mysql://aleph:hunter2@db/aleph", "--to", back},
		{"--from", src},
	} {
		line := e.fails(append([]string{"node", "db", "copy"}, args...)...)
		if strings.Contains(line, "hunter2") {
			t.Errorf("password shown: %s", line)
		}
	}
}
