// Package sqlite is the embedded SQLite backend of the core node store
// (pure Go, modernc.org/sqlite). It is the default: one file, no set-up.
//
// The database runs in WAL mode with synchronous=NORMAL: a committed
// transaction survives a crash of the process (SIGKILL); a power loss may
// drop the last transactions, never corrupt the file. One connection writes;
// a pool of connections reads.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/goaleph/goaleph/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a SQLite store. It implements store.Store.
type DB struct {
	reader
	write *sql.DB
	read  *sql.DB
	stmts map[string]*sql.Stmt

	// writeMu serialises write transactions in Go rather than in SQLite's
	// busy handler, which polls.
	writeMu sync.Mutex

	// cache holds lazily prepared statements of the write connections.
	cacheMu sync.Mutex
	cache   map[string]*sql.Stmt

	stopCheckpoint context.CancelFunc
	checkpointDone chan struct{}
}

var _ store.Store = (*DB)(nil)

// Open opens (creating if needed) the database file at path and applies
// the embedded migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	dsn := func(extra string) string {
		return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
			"&_pragma=foreign_keys(off)&_pragma=cache_size(-65536)&_pragma=temp_store(memory)" + extra
	}
	// The writer never checkpoints inside its commits (that would stall
	// the pipeline on fsync); a background goroutine does it.
	w, err := sql.Open("sqlite", dsn("&_txlock=immediate&_pragma=wal_autocheckpoint(0)"))
	if err != nil {
		return nil, err
	}
	// Two connections: write transactions use one at a time (writeMu), the
	// other lets statements be prepared while a transaction is open.
	w.SetMaxOpenConns(2)
	w.SetMaxIdleConns(2)
	w.SetConnMaxLifetime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn("&_pragma=query_only(1)"))
	if err != nil {
		w.Close()
		return nil, err
	}
	n := 2 * runtime.GOMAXPROCS(0)
	if n < 4 {
		n = 4
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db := &DB{reader: reader{q: r, counts: newCountCache()}, write: w, read: r, stmts: map[string]*sql.Stmt{}, cache: map[string]*sql.Stmt{}}
	for name, q := range hotStatements {
		st, err := w.PrepareContext(ctx, q)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("prepare %s: %w", name, err)
		}
		db.stmts[name] = st
	}
	cctx, cancel := context.WithCancel(context.Background())
	db.stopCheckpoint, db.checkpointDone = cancel, make(chan struct{})
	go db.checkpointLoop(cctx, dsn(""))
	return db, nil
}

// checkpointInterval is how often the WAL is copied back into the database.
const checkpointInterval = 500 * time.Millisecond

// checkpointLoop runs passive WAL checkpoints on a connection of its own,
// so that the single writer never waits for them; it truncates the WAL
// when it has grown large and the writer is idle.
func (db *DB) checkpointLoop(ctx context.Context, dsn string) {
	defer close(db.checkpointDone)
	c, err := sql.Open("sqlite", dsn)
	if err != nil {
		return
	}
	defer c.Close()
	c.SetMaxOpenConns(1)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.ExecContext(context.Background(), `PRAGMA wal_checkpoint(TRUNCATE)`)
			return
		case <-t.C:
			var busy, logFrames, done int
			if err := c.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &done); err != nil {
				continue
			}
			// A WAL over 64 MiB that is fully checkpointed is truncated
			// when nobody writes, so that the file does not stay large.
			if logFrames > 16384 && logFrames == done {
				c.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
			}
		}
	}
}

// maxPrepared bounds the statement cache: the pipeline uses a few dozen
// statements; queries built from filters (IN lists of any length) beyond
// the bound run unprepared.
const maxPrepared = 512

// prepared returns a cached prepared statement of the write connection, or
// nil when the cache is full and q is not in it.
func (db *DB) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	db.cacheMu.Lock()
	defer db.cacheMu.Unlock()
	if st, ok := db.cache[q]; ok {
		return st, nil
	}
	if len(db.cache) >= maxPrepared {
		return nil, nil
	}
	st, err := db.write.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	db.cache[q] = st
	return st, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	p, err := goose.NewProvider(goose.DialectSQLite3, db, mustSub(migrations, "migrations"))
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Close closes the database.
func (db *DB) Close() error {
	db.stopCheckpoint()
	<-db.checkpointDone
	for _, st := range db.stmts {
		st.Close()
	}
	for _, st := range db.cache {
		st.Close()
	}
	err := db.read.Close()
	if err2 := db.write.Close(); err == nil {
		err = err2
	}
	return err
}

// AddPending inserts pending messages in one transaction.
func (db *DB) AddPending(ctx context.Context, ps []*store.Pending) error {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st := tx.StmtContext(ctx, db.stmts["insertPending"])
	for _, p := range ps {
		if err := insertPending(ctx, st, p); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func insertPending(ctx context.Context, st *sql.Stmt, p *store.Pending) error {
	env, err := json.Marshal(p.Message)
	if err != nil {
		return err
	}
	var id int64
	err = st.QueryRowContext(ctx, p.Message.ItemHash, p.Message.Sender, p.Message.Signature, string(env),
		p.ReceptionTime, p.Retries, p.NextAttempt, p.Origin).Scan(&id)
	switch {
	case err == sql.ErrNoRows:
		p.ID = 0
	case err != nil:
		return err
	default:
		p.ID = id
	}
	return nil
}

// ListPending returns pending messages by ID.
func (db *DB) ListPending(ctx context.Context, afterID int64, limit int) ([]store.Pending, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT id, message, reception_time, retries, next_attempt, origin
		FROM pending_messages WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Pending
	for rows.Next() {
		var p store.Pending
		var env string
		if err := rows.Scan(&p.ID, &env, &p.ReceptionTime, &p.Retries, &p.NextAttempt, &p.Origin); err != nil {
			return nil, err
		}
		if p.Message, err = decodeEnvelope(env); err != nil {
			return nil, fmt.Errorf("pending %d: %w", p.ID, err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// Update runs fn in one write transaction.
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) error {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	t := &tx{reader: reader{q: txQuerier{ctx: ctx, tx: sqlTx, db: db}}, ctx: ctx, tx: sqlTx, db: db}
	if err := fn(t); err != nil {
		sqlTx.Rollback()
		return err
	}
	if t.messageDelta != 0 {
		if _, err := t.q.ExecContext(ctx, `UPDATE counters SET value = value + ? WHERE name = 'messages'`, t.messageDelta); err != nil {
			sqlTx.Rollback()
			return err
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return err
	}
	db.counts.invalidate()
	return nil
}
