package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// recordColumns are the columns scanRecord reads, in order.
const recordColumns = `item_hash, type, chain, sender, signature, item_type, item_content, content, time, channel, size, status,
	reception_time, owner, content_type, content_ref, content_key, content_item_hash, payment_type`

type scanner interface{ Scan(...any) error }

// scanRecord reads one messages row selected with recordColumns.
func scanRecord(sc scanner) (*store.Record, error) {
	var r store.Record
	var typ, itemType, status string
	var itemContent, content, channel, ctype, cref, ckey, chash, pt sql.NullString
	if err := sc.Scan(&r.ItemHash, &typ, &r.Chain, &r.Sender, &r.Signature, &itemType, &itemContent, &content, &r.Time,
		&channel, &r.Size, &status, &r.ReceptionTime, &r.Owner, &ctype, &cref, &ckey, &chash, &pt); err != nil {
		return nil, err
	}
	r.Type, r.ItemType, r.Status = message.Type(typ), message.ItemType(itemType), store.Status(status)
	r.ItemContent, r.Channel = itemContent.String, channel.String
	r.ContentType, r.ContentRef, r.ContentKey, r.ContentItemHash, r.PaymentType = ctype.String, cref.String, ckey.String, chash.String, pt.String
	if content.Valid {
		r.Content = json.RawMessage(content.String)
	} else {
		r.Content = json.RawMessage(r.ItemContent)
	}
	return &r, nil
}

func (r reader) Message(ctx context.Context, hash string) (*store.Record, error) {
	rec, err := scanRecord(r.q.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM messages WHERE item_hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return rec, err
}

// Status looks a hash up in order: processed/removing, forgotten, pending,
// rejected. A resubmitted rejected hash is therefore pending again.
func (r reader) Status(ctx context.Context, hash string) (*store.MessageStatus, error) {
	rec, err := r.Message(ctx, hash)
	if err == nil {
		return &store.MessageStatus{Status: rec.Status, ItemHash: hash, ReceptionTime: rec.ReceptionTime, Record: rec}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if f, err := r.Forgotten(ctx, hash); err == nil {
		return &store.MessageStatus{Status: store.StatusForgotten, ItemHash: hash, ReceptionTime: f.ReceptionTime, Forgotten: f}, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	rows, err := r.q.QueryContext(ctx, `SELECT id, message, reception_time, retries, next_attempt, origin
		FROM pending_messages WHERE item_hash = ? ORDER BY id`, hash)
	if err != nil {
		return nil, err
	}
	var pending []store.Pending
	for rows.Next() {
		var p store.Pending
		var env string
		if err := rows.Scan(&p.ID, &env, &p.ReceptionTime, &p.Retries, &p.NextAttempt, &p.Origin); err != nil {
			rows.Close()
			return nil, err
		}
		if p.Message, err = decodeEnvelope(env); err != nil {
			rows.Close()
			return nil, err
		}
		pending = append(pending, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(pending) > 0 {
		rt := pending[0].ReceptionTime
		for _, p := range pending {
			rt = min(rt, p.ReceptionTime)
		}
		return &store.MessageStatus{Status: store.StatusPending, ItemHash: hash, ReceptionTime: rt, Pending: pending}, nil
	}
	var rej store.Rejected
	var msg string
	var details sql.NullString
	var code int
	err = r.q.QueryRowContext(ctx, `SELECT item_hash, message, error_code, details, reception_time FROM rejected_messages WHERE item_hash = ?`, hash).
		Scan(&rej.ItemHash, &msg, &code, &details, &rej.ReceptionTime)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	rej.Message, rej.ErrorCode = json.RawMessage(msg), message.Code(code)
	if details.Valid {
		rej.Details = json.RawMessage(details.String)
	}
	return &store.MessageStatus{Status: store.StatusRejected, ItemHash: hash, ReceptionTime: rej.ReceptionTime, Rejected: &rej}, nil
}

const forgottenColumns = `item_hash, type, chain, sender, signature, item_type, time, channel, owner, payment_type, size,
	forgotten_at, forgotten_by, reception_time`

func scanForgotten(sc scanner) (*store.Forgotten, error) {
	var f store.Forgotten
	var typ, itemType, by string
	var channel, pt sql.NullString
	if err := sc.Scan(&f.ItemHash, &typ, &f.Chain, &f.Sender, &f.Signature, &itemType, &f.Time, &channel, &f.Owner, &pt,
		&f.Size, &f.ForgottenAt, &by, &f.ReceptionTime); err != nil {
		return nil, err
	}
	f.Type, f.ItemType, f.Channel, f.PaymentType = message.Type(typ), message.ItemType(itemType), channel.String, pt.String
	if err := json.Unmarshal([]byte(by), &f.ForgottenBy); err != nil {
		return nil, err
	}
	return &f, nil
}

func (r reader) Forgotten(ctx context.Context, hash string) (*store.Forgotten, error) {
	f, err := scanForgotten(r.q.QueryRowContext(ctx, `SELECT `+forgottenColumns+` FROM forgotten_messages WHERE item_hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return f, err
}

func (r reader) Security(ctx context.Context, owner string) (json.RawMessage, error) {
	var c string
	err := r.q.QueryRowContext(ctx, `SELECT content FROM aggregates WHERE owner = ? AND key = 'security'`, owner).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return json.RawMessage(c), nil
}

func (r reader) Aggregates(ctx context.Context, owner string, keys []string) ([]store.Aggregate, error) {
	q := `SELECT owner, key, content, creation_time, last_revision_hash, last_revision_time FROM aggregates WHERE owner = ?`
	args := []any{owner}
	if len(keys) > 0 {
		q += ` AND key IN (` + placeholders(len(keys)) + `)`
		args = append(args, anys(keys)...)
	}
	rows, err := r.q.QueryContext(ctx, q+` ORDER BY key`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Aggregate
	for rows.Next() {
		a, err := scanAggregate(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

func scanAggregate(sc scanner) (*store.Aggregate, error) {
	var a store.Aggregate
	var c string
	if err := sc.Scan(&a.Owner, &a.Key, &c, &a.CreationTime, &a.LastRevisionHash, &a.LastRevisionTime); err != nil {
		return nil, err
	}
	a.Content = json.RawMessage(c)
	return &a, nil
}

func (r reader) File(ctx context.Context, hash string) (*store.File, error) {
	var f store.File
	err := r.q.QueryRowContext(ctx, `SELECT hash, size, type FROM files WHERE hash = ?`, hash).Scan(&f.Hash, &f.Size, &f.Type)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return &f, err
}

func (r reader) PinCount(ctx context.Context, hash string) (int, error) {
	var n int
	err := r.q.QueryRowContext(ctx, `SELECT count(*) FROM file_pins WHERE file_hash = ?`, hash).Scan(&n)
	return n, err
}

const pinColumns = `file_hash, type, owner, item_hash, ref, created, delete_by`

func scanPin(sc scanner) (*store.Pin, error) {
	var p store.Pin
	var typ string
	var owner, item, ref sql.NullString
	var deleteBy sql.NullFloat64
	if err := sc.Scan(&p.FileHash, &typ, &owner, &item, &ref, &p.Created, &deleteBy); err != nil {
		return nil, err
	}
	p.Type, p.Owner, p.ItemHash, p.Ref, p.DeleteBy = store.PinType(typ), owner.String, item.String, ref.String, deleteBy.Float64
	return &p, nil
}

func (r reader) FileByMessage(ctx context.Context, itemHash string) (*store.Pin, error) {
	p, err := scanPin(r.q.QueryRowContext(ctx, `SELECT `+pinColumns+` FROM file_pins WHERE item_hash = ? AND type = 'message'`, itemHash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return p, err
}

func (r reader) AddressFiles(ctx context.Context, owner string, pagination, page int, asc bool) ([]store.AddressFile, int, int64, error) {
	var (
		total int
		size  int64
	)
	err := r.q.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(f.size), 0)
		FROM file_pins p JOIN files f ON f.hash = p.file_hash
		WHERE p.owner = ? AND p.type = 'message'`, owner).Scan(&total, &size)
	if err != nil {
		return nil, 0, 0, err
	}
	order := "DESC"
	if asc {
		order = "ASC"
	}
	if pagination <= 0 {
		pagination = -1 // no limit
	}
	offset := 0
	if page > 1 && pagination > 0 {
		offset = (page - 1) * pagination
	}
	rows, err := r.q.QueryContext(ctx, `SELECT p.file_hash, f.size, f.type, p.created, p.item_hash
		FROM file_pins p JOIN files f ON f.hash = p.file_hash
		WHERE p.owner = ? AND p.type = 'message'
		ORDER BY p.created `+order+`, p.id `+order+` LIMIT ? OFFSET ?`, owner, pagination, offset)
	if err != nil {
		return nil, 0, 0, err
	}
	defer rows.Close()
	files := []store.AddressFile{}
	for rows.Next() {
		var f store.AddressFile
		var item sql.NullString
		if err := rows.Scan(&f.FileHash, &f.Size, &f.Type, &f.Created, &item); err != nil {
			return nil, 0, 0, err
		}
		f.ItemHash = item.String
		files = append(files, f)
	}
	return files, total, size, rows.Err()
}

// FileByRef resolves "{owner}/{ref}" tags (owner given) or, without owner,
// the latest STORE pin whose ref is ref.
func (r reader) FileByRef(ctx context.Context, owner, ref string) (*store.Pin, error) {
	var row *sql.Row
	if owner != "" {
		row = r.q.QueryRowContext(ctx, `SELECT p.file_hash, p.type, p.owner, p.item_hash, p.ref, p.created, p.delete_by
			FROM file_tags t JOIN file_pins p ON p.file_hash = t.file_hash AND p.type = 'message' AND p.owner = t.owner
			WHERE t.tag = ? ORDER BY p.created DESC LIMIT 1`, owner+"/"+ref)
	} else {
		row = r.q.QueryRowContext(ctx, `SELECT `+pinColumns+` FROM file_pins WHERE ref = ? AND type = 'message'
			ORDER BY created DESC LIMIT 1`, ref)
	}
	p, err := scanPin(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return p, err
}

func (r reader) Unpinned(ctx context.Context, now float64, limit int) ([]store.File, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT f.hash, f.size, f.type FROM files f
		WHERE NOT EXISTS (SELECT 1 FROM file_pins p WHERE p.file_hash = f.hash AND (p.delete_by IS NULL OR p.delete_by > ?))
		LIMIT ?`, now, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.File
	for rows.Next() {
		var f store.File
		if err := rows.Scan(&f.Hash, &f.Size, &f.Type); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (r reader) Counts(ctx context.Context) (store.Counts, error) {
	var c store.Counts
	err := r.q.QueryRowContext(ctx, `SELECT (SELECT value FROM counters WHERE name = 'messages'),
		(SELECT count(*) FROM pending_messages), (SELECT count(*) FROM files),
		(SELECT count(*) FROM forgotten_messages)`).Scan(&c.Messages, &c.Pending, &c.Files, &c.Forgotten)
	return c, err
}
