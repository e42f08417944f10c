// Package compat runs the official Aleph TypeScript SDK (compat/*.test.mjs,
// installed from npm) against a real in-process core node. It is the proof
// that the SDK works against goaleph unchanged.
package compat

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/goaleph/goaleph/chain/eth/ethtest"
	"github.com/goaleph/goaleph/internal/node"
	"github.com/goaleph/goaleph/internal/store/pgtest"
	"github.com/goaleph/goaleph/internal/store/postgres"
)

// sdkTimeout bounds the whole JS suite; it is shortened to end before the
// go test deadline so that a hung suite still reports its results.
const sdkTimeout = 12 * time.Minute

// compatDir returns the repository's compat/ directory.
func compatDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "compat")
}

// TestOfficialSDK starts a node on a loopback port with a fresh data dir and
// runs `node --test` in compat/ against it, once with each database
// backend. The node's runner decides: any failing JS test fails this test,
// and its output is streamed to the log.
func TestOfficialSDK(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { runOfficialSDK(t, "") })
	t.Run("postgres", func(t *testing.T) { runOfficialSDK(t, pgtest.Start(t)) })
}

// requireSDK returns the compat directory, its inputs tracked by the test
// cache, and the Node.js binary; it fails the test when the official SDK or
// Node.js is not installed.
func requireSDK(t *testing.T) (dir, nodeBin string) {
	t.Helper()
	dir = compatDir(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@aleph-sdk", "client")); err != nil {
		t.Fatalf("the official SDK is not installed in %s/node_modules (%v): run `make test` (or `npm ci --prefix compat`)", dir, err)
	}
	trackInputs(t, dir)
	nodeBin, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("Node.js is not installed (%v): run `make test` (scripts/install-deps.sh installs it)", err)
	}
	return dir, nodeBin
}

// runOfficialSDK runs the suite against a node on dbURL ("" = SQLite in
// the data dir).
func runOfficialSDK(t *testing.T, dbURL string) {
	if testing.Short() {
		t.Skip("runs the SDK suite, which takes tens of seconds (-short given)")
	}
	dir, nodeBin := requireSDK(t)

	// One account the node trusts for balance updates and credit posts
	// (prices.test.mjs funds addresses with it): its key goes to the suite
	// as ALEPH_COMPAT_TRUSTED_KEY.
	trusted := ethtest.Account(t)
	n, addr := startNodeWith(t, node.Config{DatabaseURL: dbURL,
		Balances: node.BalancesConfig{Addresses: []string{trusted.Address()}},
		Economy:  node.EconomyConfig{CreditSenders: []string{trusted.Address()}}}, slog.LevelInfo)
	if _, isPG := n.Store().(*postgres.DB); isPG != (dbURL != "") {
		t.Fatalf("node store is %T, want PostgreSQL: %v", n.Store(), dbURL != "")
	}

	budget := sdkTimeout
	if d, ok := t.Deadline(); ok && time.Until(d)-time.Minute < budget {
		budget = time.Until(d) - time.Minute
	}
	rctx, rcancel := context.WithTimeout(context.Background(), budget)
	defer rcancel()
	args := []string{"--test", "--test-reporter=spec"}
	if nodeAtLeast(t, nodeBin, 20, 10) {
		// The files use fresh accounts and channels, so they can share the
		// node and run concurrently; they mostly wait on the network.
		args = append(args, "--test-concurrency=4")
	}
	if files := os.Getenv("COMPAT_FILES"); files != "" {
		// COMPAT_FILES=posts.test.mjs,… runs a subset.
		args = append(args, strings.Split(files, ",")...)
	}
	err := runLogged(t, nodeCommand(rctx, nodeBin, dir, addr, []string{"ALEPH_COMPAT_TRUSTED_KEY=" + trusted.PrivateKeyHex()}, args...))
	if err != nil {
		if rctx.Err() != nil {
			t.Fatalf("the SDK suite did not finish within %s", budget.Round(time.Second))
		}
		t.Fatalf("the SDK suite failed (node --test: %v); see the log above", err)
	}
}

// trackInputs reads the JS suite and the installed packages' lock so that
// go test's cache keys on them: a cached pass is reused only while neither
// the Go code nor the suite nor the SDK install has changed.
func trackInputs(t *testing.T, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files,
		filepath.Join(dir, "package.json"),
		filepath.Join(dir, "package-lock.json"),
		filepath.Join(dir, "node_modules", ".package-lock.json"))
	for _, f := range files {
		if _, err := os.ReadFile(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// logWriter sends the node's log lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log("node: " + strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// nodeAtLeast tells whether the Node.js at bin is version major.minor or later.
func nodeAtLeast(t *testing.T, bin string, major, minor int) bool {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "v%d.%d", &ma, &mi); err != nil {
		t.Fatalf("cannot parse the Node.js version %q: %v", out, err)
	}
	t.Logf("Node.js %s", strings.TrimSpace(string(out)))
	if ma < 18 {
		t.Fatalf("Node.js %d.%d is too old for node --test: run `make test` with Node.js 18 or later", ma, mi)
	}
	return ma > major || ma == major && mi >= minor
}

// logLines copies r to the test log line by line, as it comes.
func logLines(t *testing.T, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		t.Log(sc.Text())
	}
	// Drain what a too-long line left, so that the writer never blocks.
	io.Copy(io.Discard, r)
}
