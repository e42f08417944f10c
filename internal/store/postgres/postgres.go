// Package postgres is the PostgreSQL backend of the core node store (pgx).
// It holds the same tables as the SQLite backend (store/sqlite), translated:
// times as double precision, content JSON as json (its text kept as
// written; see migrations/00002_json_text.sql), bytewise ("C")
// collation on the text columns that order results, and it passes the same
// conformance suite (store/storetest).
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver, for goose
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

//go:embed migrations/*.sql
var migrations embed.FS

// querier is what reads need: the pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DB is a PostgreSQL store. It implements store.Store.
type DB struct {
	reader
	pool *pgxpool.Pool
	// writer is the one connection of the pipeline's writes, planned
	// with plan_cache_mode=force_custom_plan: a node starts on an empty
	// database and grows it fast, and a generic plan made while a table
	// was small (a sequential scan) would stay in use until the next
	// ANALYZE. Custom plans see the table's current size.
	writer *pgxpool.Pool
	// writeMu serialises Update calls, as the SQLite backend does: the
	// contract has one writer, and this keeps concurrent callers from
	// racing on the read-then-write steps of the pipeline.
	writeMu sync.Mutex
}

var _ store.Store = (*DB)(nil)

// Open connects to the database at url (a postgres:// URL or a libpq
// connection string) and applies the embedded migrations.
func Open(ctx context.Context, url string) (*DB, error) {
	if err := migrate(ctx, url); err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", err)
	}
	rcfg, err := poolConfig(url)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, rcfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	wcfg, err := poolConfig(url)
	if err != nil {
		pool.Close()
		return nil, err
	}
	wcfg.MaxConns = 1
	wcfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	writer, err := pgxpool.NewWithConfig(ctx, wcfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &DB{reader: reader{q: classifyingQuerier{pool}}, pool: pool, writer: writer}, nil
}

// defaultConnectTimeout bounds a connection attempt when the URL sets no
// connect_timeout: a server that drops packets (rather than refusing them)
// must not stall the writer for the operating system's TCP timeout.
const defaultConnectTimeout = 5 * time.Second

func poolConfig(url string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	return cfg, nil
}
func migrate(ctx context.Context, url string) error {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return err
	}
	defer db.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	// Nodes sharing a database may start together: the session lock makes
	// them apply the migrations one at a time.
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithSessionLocker(locker))
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Close closes the connection pool.
func (db *DB) Close() error {
	db.writer.Close()
	db.pool.Close()
	return nil
}

const insertPendingSQL = `INSERT INTO pending_messages (item_hash, sender, signature, message, reception_time, retries, next_attempt, origin)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING id`

func pendingArgs(p *store.Pending) ([]any, error) {
	env, err := json.Marshal(p.Message)
	if err != nil {
		return nil, err
	}
	return []any{p.Message.ItemHash, p.Message.Sender, p.Message.Signature, string(env),
		p.ReceptionTime, p.Retries, p.NextAttempt, p.Origin}, nil
}

// scanPendingID sets p.ID from the RETURNING of insertPendingSQL: 0 when
// the copy was already pending.
func scanPendingID(row pgx.Row, p *store.Pending) error {
	var id int64
	err := row.Scan(&id)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		p.ID = 0
	case err != nil:
		return err
	default:
		p.ID = id
	}
	return nil
}

// AddPending inserts pending messages with one multi-row statement.
func (db *DB) AddPending(ctx context.Context, ps []*store.Pending) (err error) {
	defer classifyErr(&err)
	if len(ps) == 0 {
		return nil
	}
	var hash, sender, sig, env, origin []string
	var recv, next []float64
	var retries []int32
	for _, p := range ps {
		e, err := json.Marshal(p.Message)
		if err != nil {
			return err
		}
		hash = append(hash, p.Message.ItemHash)
		sender = append(sender, p.Message.Sender)
		sig = append(sig, p.Message.Signature)
		env = append(env, string(e))
		recv = append(recv, p.ReceptionTime)
		retries = append(retries, int32(p.Retries))
		next = append(next, p.NextAttempt)
		origin = append(origin, p.Origin)
	}
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	rows, err := db.writer.Query(ctx, `INSERT INTO pending_messages (item_hash, sender, signature, message, reception_time, retries, next_attempt, origin)
		SELECT h, s, g, m, r, n, a, o FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::double precision[],
			$6::integer[], $7::double precision[], $8::text[]) WITH ORDINALITY AS u(h, s, g, m, r, n, a, o, i)
		ORDER BY i
		ON CONFLICT DO NOTHING RETURNING id, item_hash, sender, signature`,
		hash, sender, sig, env, recv, retries, next, origin)
	if err != nil {
		return err
	}
	defer rows.Close()
	ids := map[[3]string]int64{}
	for rows.Next() {
		var id int64
		var k [3]string
		if err := rows.Scan(&id, &k[0], &k[1], &k[2]); err != nil {
			return err
		}
		ids[k] = id
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// A copy given twice gets its ID once.
	for _, p := range ps {
		k := [3]string{p.Message.ItemHash, p.Message.Sender, p.Message.Signature}
		p.ID = ids[k]
		delete(ids, k)
	}
	return nil
}

// ListPending returns pending messages by ID.
func (db *DB) ListPending(ctx context.Context, afterID int64, limit int) ([]store.Pending, error) {
	rows, err := db.q.Query(ctx, `SELECT id, message, reception_time, retries, next_attempt, origin
		FROM pending_messages WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, err
	}
	return scanPendings(rows)
}

func scanPendings(rows pgx.Rows) ([]store.Pending, error) {
	defer rows.Close()
	var out []store.Pending
	for rows.Next() {
		var p store.Pending
		var env string
		if err := rows.Scan(&p.ID, &env, &p.ReceptionTime, &p.Retries, &p.NextAttempt, &p.Origin); err != nil {
			return nil, err
		}
		m, err := decodeEnvelope(env)
		if err != nil {
			return nil, fmt.Errorf("pending %d: %w", p.ID, err)
		}
		p.Message = m
		out = append(out, p)
	}
	return out, rows.Err()
}

// decodeEnvelope reads back an envelope stored by this package. It was
// validated on the way in, so only its JSON is decoded here.
func decodeEnvelope(s string) (*message.Message, error) {
	var m message.Message
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Update runs fn in one write transaction. Its writes are deferred and
// sent in bulk, and BEGIN and COMMIT travel with the first read and the
// last writes, so a batch of the pipeline costs two round trips (see
// bulk.go).
func (db *DB) Update(ctx context.Context, fn func(store.Tx) error) (err error) {
	defer classifyErr(&err)
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	conn, err := db.writer.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection left inside a transaction (a failed COMMIT round trip)
	// is closed by the pool on Release rather than reused.
	defer conn.Release()
	t := &tx{ctx: ctx, conn: conn.Conn()}
	t.reader = reader{q: flushing{t}}
	t.queue("BEGIN")
	err = fn(t)
	if err == nil {
		if t.messageDelta != 0 {
			t.queue(`UPDATE counters SET value = value + $1 WHERE name = 'messages'`, t.messageDelta)
		}
		t.queue("COMMIT")
		err = t.flush()
	}
	if err != nil && t.began {
		// Roll back what reached the server; on a broken connection
		// this fails too, and the pool drops the connection.
		if _, rerr := t.conn.Exec(context.Background(), "ROLLBACK"); rerr != nil {
			conn.Conn().Close(context.Background())
		}
	}
	return err
}
