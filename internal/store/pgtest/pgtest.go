// Package pgtest starts throwaway PostgreSQL clusters for tests: initdb into
// a temporary directory, a server on a random 127.0.0.1 port with fsync off,
// stopped and removed when the test ends. Debian's server refuses to run as
// root, so as root the cluster runs as the postgres user. Outage tests can
// ask for a Durable cluster and Kill and Start it again.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// binDir finds the directory of initdb and pg_ctl: PATH first, then
// Debian's /usr/lib/postgresql/<version>/bin (newest version).
func binDir() string {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	if len(dirs) == 0 {
		return ""
	}
	return filepath.Dir(dirs[0])
}

func version(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// Cluster is a throwaway server. Kill and Start may be called from any
// goroutine.
type Cluster struct {
	port int
	dbs  atomic.Int64

	dir, data string
	opts      string
	run       func(name string, args ...string) error

	mu      sync.Mutex
	running bool
}

// Option configures a cluster.
type Option func(*config)

type config struct{ durable bool }

// Durable makes a commit acknowledged by the server survive a crash of the
// server (Kill): synchronous_commit is on, so COMMIT returns only once its
// WAL record was written out. fsync and full_page_writes stay off: they
// guard against losing the operating system's page cache and against torn
// pages, which a killed process cannot cause (the kernel still holds and
// later writes what the server wrote), and turning them on would only slow
// the tests down.
func Durable() Option { return func(c *config) { c.durable = true } }

// Start starts a throwaway cluster, creates a database in it and returns
// that database's URL. The cluster is stopped and removed at the end of t.
// It skips t when the PostgreSQL server is not installed, and fails it
// instead under CI (CI set), where make test must have installed it.
func Start(t testing.TB, opts ...Option) (url string) {
	t.Helper()
	return StartCluster(t, opts...).NewDatabase(t)
}

// StartCluster starts a throwaway cluster stopped at the end of t, for
// tests that want several databases (NewDatabase) from one server.
func StartCluster(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	bin := binDir()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("PostgreSQL server not installed: make test installs it (scripts/install-deps.sh)")
		}
		t.Skip("PostgreSQL server not installed: run make test (installs it)")
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgtest: running as root needs a postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) error {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", name, err, out)
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-locale", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatal(err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	syncCommit := "off"
	if cfg.durable {
		syncCommit = "on"
	}
	c := &Cluster{port: port, dir: dir, data: data, run: run,
		opts: fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=%s -c full_page_writes=off", port, dir, syncCommit)}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !c.running {
			return
		}
		if err := run("pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"); err != nil {
			t.Log(err)
		}
	})
	return c
}

// Start starts the server again on the same data directory and port after
// Kill, and returns once it accepts connections (after crash recovery).
// It does nothing when the server runs.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return nil
	}
	log := filepath.Join(c.dir, "log")
	if err := c.run("pg_ctl", "-D", c.data, "-l", log, "-w", "-o", c.opts, "start"); err != nil {
		if b, rerr := os.ReadFile(log); rerr == nil {
			err = fmt.Errorf("%v\n%s", err, b)
		}
		return err
	}
	c.running = true
	return nil
}

// Kill crashes the server: SIGKILL to the postmaster and to every process
// it forked (backends, checkpointer, WAL writer…), as when the machine's
// OOM killer or an operator's kill -9 strikes. Unlike a shutdown, even
// pg_ctl's "immediate" one, no process says goodbye: clients see their
// connections reset, and the next Start replays the WAL. The postmaster is
// stopped first so that it forks nothing while its children are listed.
// Kill returns once they are all gone.
func (c *Cluster) Kill() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	pidFile := filepath.Join(c.data, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("pgtest: kill: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return fmt.Errorf("pgtest: kill: postmaster.pid: %w", err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("pgtest: kill: %w", err)
	}
	procs := append(children(pid), pid)
	for _, p := range procs {
		syscall.Kill(p, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, p := range procs {
		for alive(p) {
			if time.Now().After(deadline) {
				return fmt.Errorf("pgtest: kill: process %d still alive", p)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// The processes are gone but, under an init that does not reap
	// orphans, the postmaster may linger as a zombie, which the next
	// postmaster would take for a live one holding the data directory and
	// the socket: drop its lock files.
	for _, f := range []string{pidFile, filepath.Join(c.dir, fmt.Sprintf(".s.PGSQL.%d.lock", c.port))} {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("pgtest: kill: %w", err)
		}
	}
	c.running = false
	return nil
}

// children lists the processes whose parent is pid.
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _ := procStat(p); ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// alive tells whether pid exists and is not a zombie.
func alive(pid int) bool {
	_, state := procStat(pid)
	return state != "" && state != "Z" && state != "X"
}

// procStat reads the parent and the state of a process from
// /proc/<pid>/stat; the state is empty when the process is gone.
func procStat(pid int) (ppid int, state string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, ""
	}
	// "pid (comm) state ppid …"; comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, ""
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0]
}

// URL returns the URL of a database of the cluster.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// NewDatabase creates an empty database and returns its URL.
func (c *Cluster) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("test%d", c.dbs.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	return c.URL(name)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	_, p, _ := strings.Cut(l.Addr().String(), ":")
	return strconv.Atoi(p)
}
