package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/goaleph/goaleph/internal/store"
)

// Writes of a transaction are deferred. A statement whose result the
// pipeline does not need is queued, and the queue is sent as one pgx.Batch
// together with the transaction's next read (one round trip), or with the
// COMMIT. BEGIN is queued too, so it travels with the first read.
// Rows of messages and posts queued one after the other are merged into one
// multi-row INSERT … SELECT FROM unnest(…), so a batch of N new POSTs costs
// two statements, not 2N, and two round trips in all: BEGIN with the
// batch's duplicate probe (PreloadSeen), then the queued writes with the
// counter update and COMMIT. A failed statement makes the server skip the
// rest of its batch (COMMIT included); Update then rolls back.
//
// Order is kept where it matters: a merged group is sent at the place of
// its first row, which moves later rows ahead of the statements queued
// between them. That is safe because those statements do not touch the
// group's table: every other write of messages is preceded by a read
// (which sends the queue), and SetLatestAmend and DeletePost close the open
// posts group, so rows queued after them start a new group after them.

// queued is one deferred statement, or a group of rows.
type queued struct {
	sql   string
	args  []any
	group *rowGroup
}

// rowGroup accumulates rows of one table for a multi-row insert.
type rowGroup struct {
	table string
	keys  map[string]struct{}
	msgs  messageRows
	posts postRows
}

// messageRows are the columns of queued messages rows.
type messageRows struct {
	hash, typ, chain, sender, signature, itemType []string
	itemContent, content                          []*string
	time                                          []float64
	channel                                       []*string
	size                                          []int64
	status                                        []string
	receptionTime                                 []float64
	owner                                         []string
	contentType, contentRef, contentKey           []*string
	contentItemHash, paymentType                  []*string
}

const insertMessagesSQL = `INSERT INTO messages (item_hash, type, chain, sender, signature, item_type, item_content, content, time, channel,
	size, status, reception_time, owner, content_type, content_ref, content_key, content_item_hash, payment_type)
	SELECT h, ty, ch, se, si, it, ic, co::json, ti, cn, sz, st, rt, ow, ct, cr, ck, ci, pt
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
		$9::double precision[], $10::text[], $11::bigint[], $12::text[], $13::double precision[], $14::text[],
		$15::text[], $16::text[], $17::text[], $18::text[], $19::text[])
		AS u(h, ty, ch, se, si, it, ic, co, ti, cn, sz, st, rt, ow, ct, cr, ck, ci, pt)`

func (m *messageRows) add(r *store.Record, status store.Status) {
	var itemContent, content *string
	if r.ItemType == "inline" {
		s := r.ItemContent
		itemContent = &s
	} else {
		s := string(r.Content)
		content = &s
	}
	m.hash = append(m.hash, r.ItemHash)
	m.typ = append(m.typ, string(r.Type))
	m.chain = append(m.chain, r.Chain)
	m.sender = append(m.sender, r.Sender)
	m.signature = append(m.signature, r.Signature)
	m.itemType = append(m.itemType, string(r.ItemType))
	m.itemContent = append(m.itemContent, itemContent)
	m.content = append(m.content, content)
	m.time = append(m.time, r.Time)
	m.channel = append(m.channel, ptr(r.Channel))
	m.size = append(m.size, r.Size)
	m.status = append(m.status, string(status))
	m.receptionTime = append(m.receptionTime, r.ReceptionTime)
	m.owner = append(m.owner, r.Owner)
	m.contentType = append(m.contentType, ptr(r.ContentType))
	m.contentRef = append(m.contentRef, ptr(r.ContentRef))
	m.contentKey = append(m.contentKey, ptr(r.ContentKey))
	m.contentItemHash = append(m.contentItemHash, ptr(r.ContentItemHash))
	m.paymentType = append(m.paymentType, ptr(r.PaymentType))
}

func (m *messageRows) args() []any {
	return []any{m.hash, m.typ, m.chain, m.sender, m.signature, m.itemType, m.itemContent, m.content,
		m.time, m.channel, m.size, m.status, m.receptionTime, m.owner,
		m.contentType, m.contentRef, m.contentKey, m.contentItemHash, m.paymentType}
}

// postRows are the columns of queued posts rows.
type postRows struct {
	hash, owner, typ           []string
	ref, amends, channel, body []*string
	creationTime               []float64
	latestAmend                []*string
}

const insertPostsSQL = `INSERT INTO posts (item_hash, owner, type, ref, amends, channel, content, creation_time, latest_amend)
	SELECT h, o, ty, r, a, c, b::json, t, l
	FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::double precision[], $9::text[]) AS u(h, o, ty, r, a, c, b, t, l)
	ON CONFLICT (item_hash) DO UPDATE SET owner = excluded.owner, type = excluded.type, ref = excluded.ref,
	amends = excluded.amends, channel = excluded.channel, content = excluded.content,
	creation_time = excluded.creation_time, latest_amend = excluded.latest_amend`

func (p *postRows) add(r *store.Post) {
	var body *string
	if len(r.Content) > 0 {
		s := string(r.Content)
		body = &s
	}
	p.hash = append(p.hash, r.ItemHash)
	p.owner = append(p.owner, r.Owner)
	p.typ = append(p.typ, r.Type)
	p.ref = append(p.ref, ptr(r.Ref))
	p.amends = append(p.amends, ptr(r.Amends))
	p.channel = append(p.channel, ptr(r.Channel))
	p.body = append(p.body, body)
	p.creationTime = append(p.creationTime, r.CreationTime)
	p.latestAmend = append(p.latestAmend, ptr(r.LatestAmend))
}

func (p *postRows) args() []any {
	return []any{p.hash, p.owner, p.typ, p.ref, p.amends, p.channel, p.body, p.creationTime, p.latestAmend}
}

// ptr is nullStr for the array columns: nil for "".
func ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// queue defers a statement.
func (t *tx) queue(sql string, args ...any) {
	t.queued = append(t.queued, queued{sql: sql, args: args})
}

// group returns the open row group of table, opening a new one (queued
// after everything already queued) when there is none or when key is
// already in it: one INSERT … ON CONFLICT DO UPDATE may not touch a row
// twice.
func (t *tx) group(table, key string) *rowGroup {
	g := t.open[table]
	if g != nil {
		if _, dup := g.keys[key]; !dup {
			g.keys[key] = struct{}{}
			return g
		}
	}
	g = &rowGroup{table: table, keys: map[string]struct{}{key: {}}}
	if t.open == nil {
		t.open = map[string]*rowGroup{}
	}
	t.open[table] = g
	t.queued = append(t.queued, queued{group: g})
	return g
}

// closeGroup makes rows of table queued from now on go after what is
// queued now.
func (t *tx) closeGroup(table string) { delete(t.open, table) }

// flush sends the queued statements in one batch and checks each result.
func (t *tx) flush() error {
	if len(t.queued) == 0 {
		return nil
	}
	res, q := t.send(nil)
	if err := t.results(res, q); err != nil {
		res.Close()
		return err
	}
	return res.Close()
}

// send sends the queued statements in one batch, followed by read when it
// is not nil, and empties the queue. The caller reads the queued
// statements' results with results, then read's, then closes res.
func (t *tx) send(read *readStmt) (pgx.BatchResults, []queued) {
	q := t.queued
	t.queued, t.open = nil, nil
	b := &pgx.Batch{}
	for _, s := range q {
		switch {
		case s.group == nil:
			b.Queue(s.sql, s.args...)
		case s.group.table == "messages":
			b.Queue(insertMessagesSQL, s.group.msgs.args()...)
		default:
			b.Queue(insertPostsSQL, s.group.posts.args()...)
		}
	}
	if read != nil {
		b.Queue(read.sql, read.args...)
	}
	if len(q) > 0 && q[0].group == nil && q[0].sql == "BEGIN" {
		t.began = true
	}
	return t.conn.SendBatch(t.ctx, b), q
}

// results reads the results of the queued statements q of a batch.
func (t *tx) results(res pgx.BatchResults, q []queued) error {
	for _, s := range q {
		tag, err := res.Exec()
		if s.group != nil && s.group.table == "messages" {
			err = checkInserted(err)
		}
		if err != nil {
			return err
		}
		if s.group == nil && s.sql == "COMMIT" && tag.String() != "COMMIT" {
			return fmt.Errorf("postgres: transaction not committed (%s)", tag)
		}
	}
	return nil
}

// readStmt is a read sent after the queued writes, in the same batch.
type readStmt struct {
	sql  string
	args []any
}

// checkInserted explains the failure of a queued messages group. The
// transaction knew its rows absent (PreloadSeen or Seen), so the insert has
// no ON CONFLICT clause: a duplicate means another writer changed the
// table, and the server aborts the transaction at once, before the COMMIT
// queued after it, rather than letting it count rows it did not insert.
func checkInserted(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return fmt.Errorf("postgres: bulk insert of messages hit a row it did not know of: another writer is using the database: %w", err)
	}
	return err
}

// PreloadSeen answers Seen for hashes with one query; the node calls it
// once per batch, before the batch's Seen calls.
func (t *tx) PreloadSeen(hashes []string) error {
	if t.seen == nil {
		t.seen = make(map[string]store.Seen, len(hashes))
	}
	for _, h := range hashes {
		t.seen[h] = store.Seen{}
	}
	rows, err := t.q.Query(t.ctx, `SELECT item_hash, 1, signature FROM messages WHERE item_hash = ANY($1)
		UNION ALL SELECT item_hash, 2, '' FROM forgotten_messages WHERE item_hash = ANY($1)`, hashes)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var h, sig string
		var kind int
		if err := rows.Scan(&h, &kind, &sig); err != nil {
			return err
		}
		s := t.seen[h]
		if kind == 1 {
			s.Processed, s.Signature = true, sig
		} else {
			s.Forgotten = true
		}
		t.seen[h] = s
	}
	return rows.Err()
}

// flushing is the querier of a transaction's reads: queued writes go out
// first, in the same round trip, so that reads see them.
type flushing struct{ t *tx }

func (f flushing) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	f.t.queue(sql, args...)
	q := f.t.queued
	res, _ := f.t.send(nil)
	if err := f.t.results(res, q[:len(q)-1]); err != nil {
		res.Close()
		return pgconn.CommandTag{}, err
	}
	tag, err := res.Exec()
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

func (f flushing) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if len(f.t.queued) == 0 {
		return f.t.conn.Query(ctx, sql, args...)
	}
	res, q := f.t.send(&readStmt{sql: sql, args: args})
	if err := f.t.results(res, q); err != nil {
		res.Close()
		return nil, err
	}
	rows, err := res.Query()
	if err != nil {
		res.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, res: res}, nil
}

func (f flushing) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := f.Query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return oneRow{rows}
}

// batchRows are the rows of a read sent at the end of a batch: closing
// them closes the batch, whose error they then report.
type batchRows struct {
	pgx.Rows
	res    pgx.BatchResults
	closed bool
	err    error
}

func (r *batchRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.res.Close()
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

// oneRow is pgx's QueryRow over Rows: the first row, or pgx.ErrNoRows.
type oneRow struct{ rows pgx.Rows }

func (r oneRow) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// errRow is a pgx.Row whose Scan fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
