package postgres

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/goaleph/goaleph/internal/store"
)

type tx struct {
	reader       // q is flushing{t}: reads send the queued writes first
	ctx          context.Context
	conn         *pgx.Conn
	began        bool // BEGIN was sent
	messageDelta int64

	queued []queued              // deferred writes, see bulk.go
	open   map[string]*rowGroup  // open row group by table
	seen   map[string]store.Seen // Seen answers known in this transaction
}

var _ store.Tx = (*tx)(nil)

// exec runs a statement now (after the queued ones), for callers that
// need its result.
func (t *tx) exec(q string, args ...any) (pgconn.CommandTag, error) {
	return t.q.Exec(t.ctx, q, args...)
}

func (t *tx) Seen(hash string) (store.Seen, error) {
	if s, ok := t.seen[hash]; ok {
		return s, nil
	}
	var kind int
	var sig string
	err := t.q.QueryRow(t.ctx, `SELECT 1, signature FROM messages WHERE item_hash = $1
		UNION ALL SELECT 2, '' FROM forgotten_messages WHERE item_hash = $1 LIMIT 1`, hash).Scan(&kind, &sig)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return store.Seen{}, err
	}
	s := store.Seen{Processed: kind == 1, Signature: sig, Forgotten: kind == 2}
	if t.seen == nil {
		t.seen = map[string]store.Seen{}
	}
	t.seen[hash] = s
	return s, nil
}

// knownAbsent reports whether the transaction knows hash to be absent from
// messages and forgotten_messages.
func (t *tx) knownAbsent(hash string) bool {
	s, ok := t.seen[hash]
	return ok && !s.Processed && !s.Forgotten
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
	if t.knownAbsent(r.ItemHash) {
		// The common case: queued, sent in bulk.
		t.group("messages", r.ItemHash).msgs.add(r, status)
		t.seen[r.ItemHash] = store.Seen{Processed: true, Signature: r.Signature}
		t.messageDelta++
		return true, nil
	}
	delete(t.seen, r.ItemHash)
	tag, err := t.exec(`INSERT INTO messages (item_hash, type, chain, sender, signature, item_type, item_content, content, time, channel,
		size, status, reception_time, owner, content_type, content_ref, content_key, content_item_hash, payment_type)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) ON CONFLICT (item_hash) DO NOTHING`,
		r.ItemHash, string(r.Type), r.Chain, r.Sender, r.Signature,
		string(r.ItemType), itemContent, content, r.Time, nullStr(r.Channel), r.Size, string(status), r.ReceptionTime,
		r.Owner, nullStr(r.ContentType), nullStr(r.ContentRef), nullStr(r.ContentKey), nullStr(r.ContentItemHash), nullStr(r.PaymentType))
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 0 {
		_, err := t.exec(`UPDATE messages SET time = LEAST(time, $1) WHERE item_hash = $2`, r.Time, r.ItemHash)
		return false, err
	}
	t.messageDelta++
	return true, nil
}

func (t *tx) InsertPending(p *store.Pending) error {
	args, err := pendingArgs(p)
	if err != nil {
		return err
	}
	return scanPendingID(t.q.QueryRow(t.ctx, insertPendingSQL, args...), p)
}

func (t *tx) DeletePending(ids ...int64) error {
	if len(ids) == 0 {
		return nil
	}
	t.queue(`DELETE FROM pending_messages WHERE id = ANY($1)`, ids)
	return nil
}

func (t *tx) RetryPending(id int64, retries int, nextAttempt float64) error {
	t.queue(`UPDATE pending_messages SET retries = $1, next_attempt = $2 WHERE id = $3`, retries, nextAttempt, id)
	return nil
}

func (t *tx) Reject(r *store.Rejected) error {
	details := any(nil)
	if len(r.Details) > 0 && string(r.Details) != "null" {
		details = string(r.Details)
	}
	t.queue(`INSERT INTO rejected_messages (item_hash, message, error_code, details, reception_time) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (item_hash) DO UPDATE SET message = excluded.message, error_code = excluded.error_code,
		details = excluded.details, reception_time = LEAST(rejected_messages.reception_time, excluded.reception_time)`,
		r.ItemHash, string(r.Message), int(r.ErrorCode), details, r.ReceptionTime)
	return nil
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
			ORDER BY reception_time, item_hash LIMIT $2)`, bound, limit)
		if err != nil {
			return 0, err
		}
		return int(res.RowsAffected()), nil
	}
	deleted := 0
	if limit > 0 && before > 0 {
		n, err := del(`reception_time < $1`, before, limit)
		if err != nil {
			return 0, err
		}
		deleted += n
	}
	if limit > deleted && keep >= 0 {
		n, err := del(`(reception_time, item_hash) <= (SELECT reception_time, item_hash FROM rejected_messages
			ORDER BY reception_time DESC, item_hash DESC LIMIT 1 OFFSET $1)`, keep, limit-deleted)
		if err != nil {
			return deleted, err
		}
		deleted += n
	}
	return deleted, nil
}

func (t *tx) Forget(hash, forgottenBy string, at float64) error {
	var by string
	err := t.q.QueryRow(t.ctx, `SELECT forgotten_by FROM forgotten_messages WHERE item_hash = $1`, hash).Scan(&by)
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
		_, err = t.exec(`UPDATE forgotten_messages SET forgotten_by = $1 WHERE item_hash = $2`, string(b), hash)
		return err
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	b, _ := json.Marshal([]string{forgottenBy})
	tag, err := t.exec(`INSERT INTO forgotten_messages (item_hash, type, chain, sender, signature, item_type, time, channel, owner,
		payment_type, size, forgotten_at, forgotten_by, reception_time)
		SELECT item_hash, type, chain, sender, signature, item_type, time, channel, owner, coalesce(payment_type, 'hold'), size,
		$1::double precision, $2::json, reception_time
		FROM messages WHERE item_hash = $3`, at, string(b), hash)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	if _, err := t.exec(`DELETE FROM messages WHERE item_hash = $1`, hash); err != nil {
		return err
	}
	if t.seen != nil {
		t.seen[hash] = store.Seen{Forgotten: true}
	}
	t.messageDelta--
	return nil
}

func (t *tx) InsertPost(p *store.Post) error {
	t.group("posts", p.ItemHash).posts.add(p)
	return nil
}

const postColumns = `item_hash, owner, type, ref, amends, channel, content, creation_time, latest_amend`

func scanPost(sc scanner) (*store.Post, error) {
	var p store.Post
	var ref, amends, channel, content, latest *string
	if err := sc.Scan(&p.ItemHash, &p.Owner, &p.Type, &ref, &amends, &channel, &content, &p.CreationTime, &latest); err != nil {
		return nil, err
	}
	p.Ref, p.Amends, p.Channel, p.LatestAmend = str(ref), str(amends), str(channel), str(latest)
	if content != nil {
		p.Content = json.RawMessage(*content)
	}
	return &p, nil
}

func (t *tx) Post(hash string) (*store.Post, error) {
	p, err := scanPost(t.q.QueryRow(t.ctx, `SELECT `+postColumns+` FROM posts WHERE item_hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return p, err
}

func (t *tx) Amends(original string) ([]store.Post, error) {
	rows, err := t.q.Query(t.ctx, `SELECT `+postColumns+` FROM posts WHERE amends = $1 ORDER BY creation_time, item_hash`, original)
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
	t.closeGroup("posts")
	t.queue(`UPDATE posts SET latest_amend = $1 WHERE item_hash = $2`, nullStr(amend), original)
	return nil
}

func (t *tx) DeletePost(hash string) error {
	t.closeGroup("posts")
	t.queue(`DELETE FROM posts WHERE item_hash = $1`, hash)
	return nil
}

func (t *tx) InsertAggregateElement(e *store.AggregateElement) error {
	t.queue(`INSERT INTO aggregate_elements (item_hash, owner, key, content, creation_time) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (item_hash) DO UPDATE SET owner = excluded.owner, key = excluded.key, content = excluded.content,
		creation_time = excluded.creation_time`,
		e.ItemHash, e.Owner, e.Key, string(e.Content), e.CreationTime)
	return nil
}

func (t *tx) AggregateElements(owner, key string) ([]store.AggregateElement, error) {
	rows, err := t.q.Query(t.ctx, `SELECT item_hash, owner, key, content, creation_time FROM aggregate_elements
		WHERE owner = $1 AND key = $2 ORDER BY creation_time, item_hash`, owner, key)
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
	t.queue(`DELETE FROM aggregate_elements WHERE item_hash = $1`, hash)
	return nil
}

func (t *tx) PutAggregate(a *store.Aggregate) error {
	if a.Content == nil {
		t.queue(`DELETE FROM aggregates WHERE owner = $1 AND key = $2`, a.Owner, a.Key)
		return nil
	}
	t.queue(`INSERT INTO aggregates (owner, key, content, creation_time, last_revision_hash, last_revision_time)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (owner, key) DO UPDATE SET content = excluded.content, creation_time = excluded.creation_time,
		last_revision_hash = excluded.last_revision_hash, last_revision_time = excluded.last_revision_time`,
		a.Owner, a.Key, string(a.Content), a.CreationTime, a.LastRevisionHash, a.LastRevisionTime)
	return nil
}

func (t *tx) UpsertFile(f *store.File) error {
	typ := f.Type
	if typ == "" {
		typ = "file"
	}
	t.queue(`INSERT INTO files (hash, size, type) VALUES ($1, $2, $3) ON CONFLICT (hash) DO UPDATE SET size = excluded.size`,
		f.Hash, f.Size, typ)
	return nil
}

func (t *tx) AddPin(p *store.Pin) error {
	var deleteBy any
	if p.Type == store.PinGracePeriod {
		deleteBy = p.DeleteBy
	}
	t.queue(`INSERT INTO file_pins (file_hash, type, owner, item_hash, ref, created, delete_by) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		p.FileHash, string(p.Type), nullStr(p.Owner), nullStr(p.ItemHash), nullStr(p.Ref), p.Created, deleteBy)
	return nil
}

func (t *tx) DeletePins(itemHash string) error {
	t.queue(`DELETE FROM file_pins WHERE item_hash = $1`, itemHash)
	return nil
}

func (t *tx) DeleteExpiredGrace(now float64) (int, error) {
	tag, err := t.exec(`DELETE FROM file_pins WHERE type = 'grace_period' AND delete_by <= $1`, now)
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

func (t *tx) DeleteFile(hash string) error {
	t.queue(`DELETE FROM files WHERE hash = $1`, hash)
	return nil
}

func (t *tx) UpsertTag(ft *store.FileTag) error {
	t.queue(`INSERT INTO file_tags (tag, owner, file_hash, last_updated) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tag) DO UPDATE SET file_hash = excluded.file_hash, last_updated = excluded.last_updated
		WHERE excluded.last_updated >= file_tags.last_updated`, ft.Tag, ft.Owner, ft.FileHash, ft.LastUpdated)
	return nil
}

func (t *tx) Tag(tag string) (*store.FileTag, error) {
	var ft store.FileTag
	err := t.q.QueryRow(t.ctx, `SELECT tag, owner, file_hash, last_updated FROM file_tags WHERE tag = $1`, tag).
		Scan(&ft.Tag, &ft.Owner, &ft.FileHash, &ft.LastUpdated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &ft, nil
}

func (t *tx) InsertVM(v *store.VM) error {
	t.queue(`INSERT INTO vms (item_hash, owner, type, allow_amend, replaces, payment_type) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (item_hash) DO UPDATE SET owner = excluded.owner, type = excluded.type, allow_amend = excluded.allow_amend,
		replaces = excluded.replaces, payment_type = excluded.payment_type`,
		v.ItemHash, v.Owner, string(v.Type), v.AllowAmend, nullStr(v.Replaces), nullStr(v.PaymentType))
	if len(v.Volumes) > 0 {
		t.queue(`INSERT INTO vm_volumes (vm_hash, ref) SELECT $1, r FROM unnest($2::text[]) WITH ORDINALITY AS u(r, i) ORDER BY i`,
			v.ItemHash, v.Volumes)
	}
	return nil
}

func (t *tx) VM(hash string) (*store.VM, error) {
	var v store.VM
	var typ string
	var replaces, pt *string
	err := t.q.QueryRow(t.ctx, `SELECT item_hash, owner, type, allow_amend, replaces, payment_type FROM vms WHERE item_hash = $1`, hash).
		Scan(&v.ItemHash, &v.Owner, &typ, &v.AllowAmend, &replaces, &pt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	v.Type, v.Replaces, v.PaymentType = messageType(typ), str(replaces), str(pt)
	rows, err := t.q.Query(t.ctx, `SELECT ref FROM vm_volumes WHERE vm_hash = $1 ORDER BY id`, hash)
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
	t.queue(`DELETE FROM vm_volumes WHERE vm_hash = $1`, hash)
	t.queue(`DELETE FROM vms WHERE item_hash = $1`, hash)
	return nil
}

func (t *tx) VolumeUsers(hash string) ([]string, error) {
	rows, err := t.q.Query(t.ctx, `SELECT DISTINCT vm_hash FROM vm_volumes WHERE ref = $1`, hash)
	if err != nil {
		return nil, err
	}
	return collectStrings(rows)
}
