package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/goaleph/goaleph/internal/store"
)

// hotStatements are prepared once on the write connection.
var hotStatements = map[string]string{
	"insertPending": `INSERT INTO pending_messages (item_hash, sender, signature, message, reception_time, retries, next_attempt, origin)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
	"insertMessage": `INSERT INTO messages (item_hash, type, chain, sender, signature, item_type, item_content, content, time, channel,
		size, status, reception_time, owner, content_type, content_ref, content_key, content_item_hash, payment_type)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (item_hash) DO NOTHING`,
	"deletePending": `DELETE FROM pending_messages WHERE id = ?`,
	"insertPost": `INSERT OR REPLACE INTO posts (item_hash, owner, type, ref, amends, channel, content, creation_time, latest_amend)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
}

type tx struct {
	reader
	ctx          context.Context
	tx           *sql.Tx
	db           *DB
	messageDelta int64
}

var _ store.Tx = (*tx)(nil)

func (t *tx) exec(q string, args ...any) (sql.Result, error) {
	return t.q.ExecContext(t.ctx, q, args...)
}

// txQuerier runs a transaction's statements through the write connection's
// cache of prepared statements: the pipeline runs the same few statements
// for every message, and parsing SQL each time costs more than running it.
type txQuerier struct {
	ctx context.Context
	tx  *sql.Tx
	db  *DB
}

// stmt returns the transaction's handle on the cached statement of query,
// or nil (run the query unprepared) when it cannot be cached.
func (q txQuerier) stmt(ctx context.Context, query string) *sql.Stmt {
	st, err := q.db.prepared(ctx, query)
	if err != nil || st == nil {
		// An error surfaces when the query runs unprepared.
		return nil
	}
	return q.tx.StmtContext(ctx, st)
}

func (q txQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.tx.ExecContext(ctx, query, args...)
}

func (q txQuerier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.tx.QueryContext(ctx, query, args...)
}

func (q txQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := q.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.tx.QueryRowContext(ctx, query, args...)
}

func (t *tx) stmt(name string) *sql.Stmt { return t.tx.StmtContext(t.ctx, t.db.stmts[name]) }

func (t *tx) Seen(hash string) (store.Seen, error) {
	var kind int
	var sig string
	err := t.q.QueryRowContext(t.ctx, `SELECT 1, signature FROM messages WHERE item_hash = ?1
		UNION ALL SELECT 2, '' FROM forgotten_messages WHERE item_hash = ?1 LIMIT 1`, hash).Scan(&kind, &sig)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Seen{}, nil
	case err != nil:
		return store.Seen{}, err
	}
	return store.Seen{Processed: kind == 1, Signature: sig, Forgotten: kind == 2}, nil
}

func (t *tx) InsertMessage(r *store.Record) (bool, error) {
	var itemContent, content any
	if r.ItemType == "inline" {
		itemContent = r.ItemContent
	} else {
		content = string(r.Content)
	}
	status := r.Status
	if status == "" {
		status = store.StatusProcessed
	}
	res, err := t.stmt("insertMessage").ExecContext(t.ctx, r.ItemHash, string(r.Type), r.Chain, r.Sender, r.Signature,
		string(r.ItemType), itemContent, content, r.Time, nullStr(r.Channel), r.Size, string(status), r.ReceptionTime,
		r.Owner, nullStr(r.ContentType), nullStr(r.ContentRef), nullStr(r.ContentKey), nullStr(r.ContentItemHash), nullStr(r.PaymentType))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		_, err := t.exec(`UPDATE messages SET time = min(time, ?) WHERE item_hash = ?`, r.Time, r.ItemHash)
		return false, err
	}
	t.messageDelta++
	return true, nil
}

func (t *tx) InsertPending(p *store.Pending) error {
	return insertPending(t.ctx, t.stmt("insertPending"), p)
}

func (t *tx) DeletePending(ids ...int64) error {
	st := t.stmt("deletePending")
	for _, id := range ids {
		if _, err := st.ExecContext(t.ctx, id); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) RetryPending(id int64, retries int, nextAttempt float64) error {
	_, err := t.exec(`UPDATE pending_messages SET retries = ?, next_attempt = ? WHERE id = ?`, retries, nextAttempt, id)
	return err
}

func (t *tx) Reject(r *store.Rejected) error {
	details := any(nil)
	if len(r.Details) > 0 && string(r.Details) != "null" {
		details = string(r.Details)
	}
	_, err := t.exec(`INSERT INTO rejected_messages (item_hash, message, error_code, details, reception_time) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (item_hash) DO UPDATE SET message = excluded.message, error_code = excluded.error_code,
		details = excluded.details, reception_time = min(rejected_messages.reception_time, excluded.reception_time)`,
		r.ItemHash, string(r.Message), int(r.ErrorCode), details, r.ReceptionTime)
	return err
}

// PruneRejected: see store.Tx. Both sets are prefixes of the
// (reception_time, item_hash) order, so deleting the old ones first and
// then those beyond the cap is still oldest first; each statement is a
// range on the rejected_messages_reception index. The records beyond the
// newest keep are those at or before the (keep+1)-th newest; without such
// a row the cap is not reached.
func (t *tx) PruneRejected(before float64, keep, limit int) (int, error) {
	del := func(cond string, bound any, limit int) (int, error) {
		res, err := t.exec(`DELETE FROM rejected_messages WHERE item_hash IN (
			SELECT item_hash FROM rejected_messages WHERE `+cond+`
			ORDER BY reception_time, item_hash LIMIT ?2)`, bound, limit)
		if err != nil {
			return 0, err
		}
		n, _ := res.RowsAffected()
		return int(n), nil
	}
	deleted := 0
	if limit > 0 && before > 0 {
		n, err := del(`reception_time < ?1`, before, limit)
		if err != nil {
			return 0, err
		}
		deleted += n
	}
	if limit > deleted && keep >= 0 {
		n, err := del(`(reception_time, item_hash) <= (SELECT reception_time, item_hash FROM rejected_messages
			ORDER BY reception_time DESC, item_hash DESC LIMIT 1 OFFSET ?1)`, keep, limit-deleted)
		if err != nil {
			return deleted, err
		}
		deleted += n
	}
	return deleted, nil
}

func (t *tx) Forget(hash, forgottenBy string, at float64) error {
	var by string
	err := t.q.QueryRowContext(t.ctx, `SELECT forgotten_by FROM forgotten_messages WHERE item_hash = ?`, hash).Scan(&by)
	if err == nil {
		var list []string
		_ = json.Unmarshal([]byte(by), &list)
		for _, h := range list {
			if h == forgottenBy {
				return nil
			}
		}
		list = append(list, forgottenBy)
		b, _ := json.Marshal(list)
		_, err = t.exec(`UPDATE forgotten_messages SET forgotten_by = ? WHERE item_hash = ?`, string(b), hash)
		return err
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	b, _ := json.Marshal([]string{forgottenBy})
	res, err := t.exec(`INSERT INTO forgotten_messages (item_hash, type, chain, sender, signature, item_type, time, channel, owner,
		payment_type, size, forgotten_at, forgotten_by, reception_time)
		SELECT item_hash, type, chain, sender, signature, item_type, time, channel, owner, coalesce(payment_type, 'hold'), size, ?, ?, reception_time
		FROM messages WHERE item_hash = ?`, at, string(b), hash)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	if _, err := t.exec(`DELETE FROM messages WHERE item_hash = ?`, hash); err != nil {
		return err
	}
	t.messageDelta--
	return nil
}

func (t *tx) InsertPost(p *store.Post) error {
	_, err := t.stmt("insertPost").ExecContext(t.ctx, p.ItemHash, p.Owner, p.Type, nullStr(p.Ref), nullStr(p.Amends),
		nullStr(p.Channel), nullRaw(p.Content), p.CreationTime, nullStr(p.LatestAmend))
	return err
}

func nullRaw(r json.RawMessage) any {
	if len(r) == 0 {
		return nil
	}
	return string(r)
}

const postColumns = `item_hash, owner, type, ref, amends, channel, content, creation_time, latest_amend`

func scanPost(sc interface{ Scan(...any) error }) (*store.Post, error) {
	var p store.Post
	var ref, amends, channel, content, latest sql.NullString
	if err := sc.Scan(&p.ItemHash, &p.Owner, &p.Type, &ref, &amends, &channel, &content, &p.CreationTime, &latest); err != nil {
		return nil, err
	}
	p.Ref, p.Amends, p.Channel, p.LatestAmend = ref.String, amends.String, channel.String, latest.String
	if content.Valid {
		p.Content = json.RawMessage(content.String)
	}
	return &p, nil
}

func (t *tx) Post(hash string) (*store.Post, error) {
	p, err := scanPost(t.q.QueryRowContext(t.ctx, `SELECT `+postColumns+` FROM posts WHERE item_hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return p, err
}

func (t *tx) Amends(original string) ([]store.Post, error) {
	rows, err := t.q.QueryContext(t.ctx, `SELECT `+postColumns+` FROM posts WHERE amends = ? ORDER BY creation_time, item_hash`, original)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Post
	for rows.Next() {
		p, err := scanPost(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

func (t *tx) SetLatestAmend(original, amend string) error {
	_, err := t.exec(`UPDATE posts SET latest_amend = ? WHERE item_hash = ?`, nullStr(amend), original)
	return err
}

func (t *tx) DeletePost(hash string) error {
	_, err := t.exec(`DELETE FROM posts WHERE item_hash = ?`, hash)
	return err
}

func (t *tx) InsertAggregateElement(e *store.AggregateElement) error {
	_, err := t.exec(`INSERT OR REPLACE INTO aggregate_elements (item_hash, owner, key, content, creation_time) VALUES (?, ?, ?, ?, ?)`,
		e.ItemHash, e.Owner, e.Key, string(e.Content), e.CreationTime)
	return err
}

func (t *tx) AggregateElements(owner, key string) ([]store.AggregateElement, error) {
	rows, err := t.q.QueryContext(t.ctx, `SELECT item_hash, owner, key, content, creation_time FROM aggregate_elements
		WHERE owner = ? AND key = ? ORDER BY creation_time, item_hash`, owner, key)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.AggregateElement
	for rows.Next() {
		var e store.AggregateElement
		var c string
		if err := rows.Scan(&e.ItemHash, &e.Owner, &e.Key, &c, &e.CreationTime); err != nil {
			return nil, err
		}
		e.Content = json.RawMessage(c)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (t *tx) DeleteAggregateElement(hash string) error {
	_, err := t.exec(`DELETE FROM aggregate_elements WHERE item_hash = ?`, hash)
	return err
}

func (t *tx) PutAggregate(a *store.Aggregate) error {
	if a.Content == nil {
		_, err := t.exec(`DELETE FROM aggregates WHERE owner = ? AND key = ?`, a.Owner, a.Key)
		return err
	}
	_, err := t.exec(`INSERT OR REPLACE INTO aggregates (owner, key, content, creation_time, last_revision_hash, last_revision_time)
		VALUES (?, ?, ?, ?, ?, ?)`, a.Owner, a.Key, string(a.Content), a.CreationTime, a.LastRevisionHash, a.LastRevisionTime)
	return err
}

func (t *tx) UpsertFile(f *store.File) error {
	typ := f.Type
	if typ == "" {
		typ = "file"
	}
	_, err := t.exec(`INSERT INTO files (hash, size, type) VALUES (?, ?, ?) ON CONFLICT (hash) DO UPDATE SET size = excluded.size`,
		f.Hash, f.Size, typ)
	return err
}

func (t *tx) AddPin(p *store.Pin) error {
	var deleteBy any
	if p.Type == store.PinGracePeriod {
		deleteBy = p.DeleteBy
	}
	_, err := t.exec(`INSERT INTO file_pins (file_hash, type, owner, item_hash, ref, created, delete_by) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.FileHash, string(p.Type), nullStr(p.Owner), nullStr(p.ItemHash), nullStr(p.Ref), p.Created, deleteBy)
	return err
}

func (t *tx) DeletePins(itemHash string) error {
	_, err := t.exec(`DELETE FROM file_pins WHERE item_hash = ?`, itemHash)
	return err
}

func (t *tx) DeleteExpiredGrace(now float64) (int, error) {
	res, err := t.exec(`DELETE FROM file_pins WHERE type = 'grace_period' AND delete_by <= ?`, now)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

func (t *tx) DeleteFile(hash string) error {
	_, err := t.exec(`DELETE FROM files WHERE hash = ?`, hash)
	return err
}

func (t *tx) UpsertTag(ft *store.FileTag) error {
	_, err := t.exec(`INSERT INTO file_tags (tag, owner, file_hash, last_updated) VALUES (?, ?, ?, ?)
		ON CONFLICT (tag) DO UPDATE SET file_hash = excluded.file_hash, last_updated = excluded.last_updated
		WHERE excluded.last_updated >= file_tags.last_updated`, ft.Tag, ft.Owner, ft.FileHash, ft.LastUpdated)
	return err
}

func (t *tx) Tag(tag string) (*store.FileTag, error) {
	var ft store.FileTag
	err := t.q.QueryRowContext(t.ctx, `SELECT tag, owner, file_hash, last_updated FROM file_tags WHERE tag = ?`, tag).
		Scan(&ft.Tag, &ft.Owner, &ft.FileHash, &ft.LastUpdated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return &ft, err
}

func (t *tx) InsertVM(v *store.VM) error {
	if _, err := t.exec(`INSERT OR REPLACE INTO vms (item_hash, owner, type, allow_amend, replaces, payment_type) VALUES (?, ?, ?, ?, ?, ?)`,
		v.ItemHash, v.Owner, string(v.Type), v.AllowAmend, nullStr(v.Replaces), nullStr(v.PaymentType)); err != nil {
		return err
	}
	for _, ref := range v.Volumes {
		if _, err := t.exec(`INSERT INTO vm_volumes (vm_hash, ref) VALUES (?, ?)`, v.ItemHash, ref); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) VM(hash string) (*store.VM, error) {
	var v store.VM
	var replaces, pt sql.NullString
	err := t.q.QueryRowContext(t.ctx, `SELECT item_hash, owner, type, allow_amend, replaces, payment_type FROM vms WHERE item_hash = ?`, hash).
		Scan(&v.ItemHash, &v.Owner, &v.Type, &v.AllowAmend, &replaces, &pt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	v.Replaces, v.PaymentType = replaces.String, pt.String
	rows, err := t.q.QueryContext(t.ctx, `SELECT ref FROM vm_volumes WHERE vm_hash = ?`, hash)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, err
		}
		v.Volumes = append(v.Volumes, r)
	}
	return &v, rows.Err()
}

func (t *tx) DeleteVM(hash string) error {
	if _, err := t.exec(`DELETE FROM vm_volumes WHERE vm_hash = ?`, hash); err != nil {
		return err
	}
	_, err := t.exec(`DELETE FROM vms WHERE item_hash = ?`, hash)
	return err
}

func (t *tx) VolumeUsers(hash string) ([]string, error) {
	return scanStrings(t.q.QueryContext(t.ctx, `SELECT DISTINCT vm_hash FROM vm_volumes WHERE ref = ?`, hash))
}
