package message

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite generated documentation")

// renderCodes renders the error-code table as Markdown.
func renderCodes() string {
	var b strings.Builder
	b.WriteString("# Processing error codes\n\n")
	b.WriteString("Generated from `message.Codes` by `go test ./message -run TestErrorsDoc -update`; do not edit.\n\n")
	b.WriteString("A message that fails with a *retry* code is attempted again with exponential backoff (and at once when\n")
	b.WriteString("the message or file it waits for arrives); after the last attempt it is rejected with that code.\n")
	b.WriteString("`GET /api/v0/messages/{hash}` shows the code of a rejected message in `error_code`.\n\n")
	b.WriteString("| code | name | kind | meaning |\n|---:|---|---|---|\n")
	for _, c := range Codes {
		kind := "reject"
		if c.Retry {
			kind = "retry"
		}
		fmt.Fprintf(&b, "| %d | `%s` | %s | %s |\n", c.Code, c.Name, kind, c.Meaning)
	}
	return b.String()
}

func TestErrorsDoc(t *testing.T) {
	const path = "../docs/errors.md"
	want := renderCodes()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		t.Fatalf("docs/errors.md is out of date: run go test ./message -run TestErrorsDoc -update")
	}
}
