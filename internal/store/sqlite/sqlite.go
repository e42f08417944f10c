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
	w, err := sql.Open("sqlite", dsn("&_txlock=immediate"))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
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
	db := &DB{reader: reader{q: r}, write: w, read: r, stmts: map[string]*sql.Stmt{}}
	for name, q := range hotStatements {
		st, err := w.PrepareContext(ctx, q)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("prepare %s: %w", name, err)
		}
		db.stmts[name] = st
	}
	return db, nil
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
	for _, st := range db.stmts {
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
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	st := tx.StmtContext(ctx, db.stmts["insertPending"])
	for _, p := range ps {
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
	}
	return tx.Commit()
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
	sqlTx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	t := &tx{reader: reader{q: sqlTx}, ctx: ctx, tx: sqlTx, db: db}
	if err := fn(t); err != nil {
		sqlTx.Rollback()
		return err
	}
	if t.messageDelta != 0 {
		if _, err := sqlTx.ExecContext(ctx, `UPDATE counters SET value = value + ? WHERE name = 'messages'`, t.messageDelta); err != nil {
			sqlTx.Rollback()
			return err
		}
	}
	return sqlTx.Commit()
}
