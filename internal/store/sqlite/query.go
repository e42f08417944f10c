package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// The list queries below are written so that SQLite answers a page from an
// index: every filter column of messages has an index whose second column
// is time, the default order is (time, item_hash), and totals come from the
// counters row when nothing is filtered. Each IN list is bound as
// parameters.

// conds accumulates the WHERE clause of a list query.
type conds struct {
	sql  []string
	args []any
}

func (c *conds) add(cond string, args ...any) {
	c.sql = append(c.sql, cond)
	c.args = append(c.args, args...)
}

// in adds "col IN (…)" when vals is not empty.
func (c *conds) in(col string, vals []string) {
	switch len(vals) {
	case 0:
	case 1:
		c.add(col+" = ?", vals[0])
	default:
		c.add(col+" IN ("+placeholders(len(vals))+")", anys(vals)...)
	}
}

func (c *conds) where() string {
	if len(c.sql) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(c.sql, " AND ")
}

// clone returns a copy that can be extended without touching c.
func (c *conds) clone() *conds {
	return &conds{sql: append([]string(nil), c.sql...), args: append([]any(nil), c.args...)}
}

// tagsCond matches rows whose JSON array at path (in the JSON expression
// expr) holds any of tags.
func tagsCond(expr, path string, tags []string) string {
	return "EXISTS (SELECT 1 FROM json_each(" + expr + ", '" + path + "') WHERE json_each.value IN (" + placeholders(len(tags)) + "))"
}

// maxCursorPage bounds a page in cursor mode (spec §9).
const maxCursorPage = 200

// pageBounds returns LIMIT and OFFSET of an offset-mode page; limit 0 means
// no limit.
func pageBounds(pagination, page int) (limit, offset int) {
	if pagination <= 0 {
		return 0, 0
	}
	if page < 1 {
		page = 1
	}
	return pagination, (page - 1) * pagination
}

// cursorLimit returns the page size of a cursor-mode page.
func cursorLimit(pagination int) int {
	if pagination <= 0 || pagination > maxCursorPage {
		return maxCursorPage
	}
	return pagination
}

// limitClause renders LIMIT/OFFSET; limit 0 is no limit.
func limitClause(limit, offset int) string {
	switch {
	case limit > 0 && offset > 0:
		return fmt.Sprintf(" LIMIT %d OFFSET %d", limit, offset)
	case limit > 0:
		return fmt.Sprintf(" LIMIT %d", limit)
	case offset > 0:
		return fmt.Sprintf(" LIMIT -1 OFFSET %d", offset)
	}
	return ""
}

// shortPageTotal tells whether the total of an offset-mode page is known
// without counting: a short page (or an unlimited one) ends the result set.
func shortPageTotal(limit, offset, n int) (int, bool) {
	if limit == 0 || (n < limit && (n > 0 || offset == 0)) {
		return offset + n, true
	}
	return 0, false
}

func dir(asc bool) string {
	if asc {
		return "ASC"
	}
	return "DESC"
}

// timeKeyset adds the condition selecting rows after (t, hash) in the order
// (timeCol per asc, hashCol ascending). The range on timeCol comes first so
// that SQLite seeks the time index.
func timeKeyset(c *conds, timeCol, hashCol string, asc bool, t float64, hash string) {
	if asc {
		c.add(timeCol+" >= ? AND ("+timeCol+" > ? OR "+hashCol+" > ?)", t, t, hash)
	} else {
		c.add(timeCol+" <= ? AND ("+timeCol+" < ? OR "+hashCol+" > ?)", t, t, hash)
	}
}

// liveStatuses returns the statuses of the messages table a filter selects,
// and whether it selects forgotten skeletons instead.
func liveStatuses(statuses []store.Status) (live []string, forgotten bool) {
	if len(statuses) == 0 {
		return []string{string(store.StatusProcessed), string(store.StatusRemoving)}, false
	}
	if len(statuses) == 1 && statuses[0] == store.StatusForgotten {
		return nil, true
	}
	seen := map[store.Status]bool{}
	for _, s := range statuses {
		if (s == store.StatusProcessed || s == store.StatusRemoving) && !seen[s] {
			seen[s] = true
			live = append(live, string(s))
		}
	}
	return live, false
}

func types(ts []message.Type) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

// ListMessages lists processed/removing messages (or forgotten skeletons)
// matching f, newest first unless f.SortAsc, ties broken by item_hash.
func (r reader) ListMessages(ctx context.Context, f store.MessageFilter) (*store.MessagePage, error) {
	live, forgotten := liveStatuses(f.Statuses)
	if forgotten {
		return r.listForgotten(ctx, f)
	}
	page := &store.MessagePage{Records: []store.Record{}}
	if len(live) == 0 {
		// Only statuses whose rows live elsewhere (pending, rejected, …).
		if f.Cursor == nil {
			page.Total = 0
		} else {
			page.Total = -1
		}
		return page, nil
	}
	c := &conds{}
	// Removed messages keep their row (status removed), which the counters
	// row does not count: the totals of a filter on that alone are its.
	base := 0
	if len(live) == 1 {
		c.add("status = ?", live[0])
	} else {
		c.add("status <> ?", string(store.StatusRemoved))
		base = 1
	}
	c.in("item_hash", f.Hashes)
	c.in("sender", f.Addresses)
	c.in("owner", f.Owners)
	c.in("content_ref", f.Refs)
	c.in("content_item_hash", f.ContentHashes)
	c.in("content_key", f.ContentKeys)
	c.in("content_type", f.ContentTypes)
	c.in("chain", f.Chains)
	c.in("channel", f.Channels)
	c.in("type", types(f.Types))
	c.in("payment_type", f.PaymentTypes)
	if len(f.Tags) > 0 {
		c.add(tagsCond("coalesce(content, item_content)", "$.content.tags", f.Tags), anys(f.Tags)...)
	}
	if f.StartDate > 0 {
		c.add("time >= ?", f.StartDate)
	}
	if f.EndDate > 0 {
		c.add("time < ?", f.EndDate)
	}
	if f.StartBlock > 0 {
		c.add(firstConfirmedHeight+" >= ?", int64(f.StartBlock))
	}
	if f.EndBlock > 0 {
		c.add(firstConfirmedHeight+" < ?", int64(f.EndBlock))
	}
	filtered := len(c.sql) > base
	order := " ORDER BY time " + dir(f.SortAsc) + ", item_hash ASC"
	if f.SortTxTime {
		order = " ORDER BY " + store.TxTimeOrder(firstConfirmedTime, f.SortAsc)
	}

	if f.Cursor != nil {
		page.Total = -1
		limit := cursorLimit(f.Pagination)
		q := c
		if *f.Cursor != "" {
			t, h, err := store.DecodeTimeCursor(*f.Cursor)
			if err != nil {
				return nil, err
			}
			q = c.clone()
			timeKeyset(q, "time", "item_hash", f.SortAsc, t, h)
		}
		recs, err := r.queryRecords(ctx, `SELECT `+recordColumns+` FROM messages`+q.where()+order+limitClause(limit+1, 0), q.args)
		if err != nil {
			return nil, err
		}
		if len(recs) > limit {
			recs = recs[:limit]
			last := recs[limit-1]
			page.NextCursor = store.EncodeTimeCursor(last.Time, last.ItemHash)
		}
		page.Records = recs
		return page, nil
	}

	limit, offset := pageBounds(f.Pagination, f.Page)
	recs, err := r.queryRecords(ctx, `SELECT `+recordColumns+` FROM messages`+c.where()+order+limitClause(limit, offset), c.args)
	if err != nil {
		return nil, err
	}
	page.Records = recs
	if total, ok := shortPageTotal(limit, offset, len(recs)); ok {
		page.Total = total
		return page, nil
	}
	if !filtered {
		err = r.q.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'messages'`).Scan(&page.Total)
	} else {
		page.Total, err = r.count(ctx, `SELECT count(*) FROM messages`+c.where(), c.args)
	}
	if err != nil {
		return nil, err
	}
	return page, nil
}

func (r reader) queryRecords(ctx context.Context, q string, args []any) ([]store.Record, error) {
	rows, err := r.q.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.Record{}
	for rows.Next() {
		rec, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *rec)
	}
	return out, rows.Err()
}

// listForgotten lists forgotten skeletons. Filters on content (refs,
// content hashes/keys/types, tags) match nothing: the content is gone.
func (r reader) listForgotten(ctx context.Context, f store.MessageFilter) (*store.MessagePage, error) {
	page := &store.MessagePage{Records: []store.Record{}, Forgotten: []store.Forgotten{}}
	if f.Cursor != nil {
		page.Total = -1
	}
	if len(f.Refs)+len(f.ContentHashes)+len(f.ContentKeys)+len(f.ContentTypes)+len(f.Tags) > 0 {
		return page, nil
	}
	c := &conds{}
	c.in("item_hash", f.Hashes)
	c.in("sender", f.Addresses)
	c.in("owner", f.Owners)
	c.in("chain", f.Chains)
	c.in("channel", f.Channels)
	c.in("type", types(f.Types))
	c.in("payment_type", f.PaymentTypes)
	if f.StartDate > 0 {
		c.add("time >= ?", f.StartDate)
	}
	if f.EndDate > 0 {
		c.add("time < ?", f.EndDate)
	}
	order := " ORDER BY time " + dir(f.SortAsc) + ", item_hash ASC"
	var limit, offset int
	q := c
	if f.Cursor != nil {
		limit = cursorLimit(f.Pagination)
		if *f.Cursor != "" {
			t, h, err := store.DecodeTimeCursor(*f.Cursor)
			if err != nil {
				return nil, err
			}
			q = c.clone()
			timeKeyset(q, "time", "item_hash", f.SortAsc, t, h)
		}
	} else {
		limit, offset = pageBounds(f.Pagination, f.Page)
	}
	fetch := limit
	if f.Cursor != nil {
		fetch = limit + 1
	}
	rows, err := r.q.QueryContext(ctx, `SELECT `+forgottenColumns+` FROM forgotten_messages`+q.where()+order+limitClause(fetch, offset), q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		fm, err := scanForgotten(rows)
		if err != nil {
			return nil, err
		}
		page.Forgotten = append(page.Forgotten, *fm)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if f.Cursor != nil {
		if len(page.Forgotten) > limit {
			page.Forgotten = page.Forgotten[:limit]
			last := page.Forgotten[limit-1]
			page.NextCursor = store.EncodeTimeCursor(last.Time, last.ItemHash)
		}
		return page, nil
	}
	if total, ok := shortPageTotal(limit, offset, len(page.Forgotten)); ok {
		page.Total = total
		return page, nil
	}
	if page.Total, err = r.count(ctx, `SELECT count(*) FROM forgotten_messages`+c.where(), c.args); err != nil {
		return nil, err
	}
	return page, nil
}

// postLastUpdated is the order key of merged posts: the time of their
// last update (the latest amend's content time, else the original's), as
// the reference node sorts them.
const postLastUpdated = "coalesce(a.creation_time, o.creation_time)"

// postArms returns the two halves of a posts page query: originals without
// an amend (ordered by their own creation time) and originals with one
// (ordered by their latest amend's). SQLite merges the two ordered halves,
// so that a page does not sort every post. Unfiltered or by owner, the
// amended half walks the amends in time order (CROSS JOIN fixes that loop
// order) and stops at the page; filtered on selective fields of the
// original, it reads the matching originals through their index and sorts
// those.
func postArms(f store.PostFilter, keyset func(c *conds, timeCol string)) (string, []any) {
	// Hashes, refs and channels usually select few posts; a type is
	// usually shared by many, and amends are read by owner directly.
	byOriginal := len(f.Addresses) == 0 && len(f.Hashes)+len(f.Refs)+len(f.Channels) > 0
	arm := func(amended bool) *conds {
		c := &conds{}
		lu, content := "o.creation_time", "o.content"
		if amended {
			lu, content = "a.creation_time", "coalesce(a.content, o.content)"
			c.add("a.amends IS NOT NULL AND o.latest_amend = a.item_hash AND o.amends IS NULL")
		} else {
			c.add("o.amends IS NULL AND (o.latest_amend IS NULL OR NOT EXISTS (SELECT 1 FROM posts x WHERE x.item_hash = o.latest_amend))")
		}
		c.in("o.item_hash", f.Hashes)
		c.in("o.owner", f.Addresses)
		if amended {
			// An amend has its original's owner (the pipeline rejects
			// others): this lets the amends be read by owner.
			c.in("a.owner", f.Addresses)
		}
		c.in("o.ref", f.Refs)
		c.in("o.type", f.Types)
		c.in("o.channel", f.Channels)
		if len(f.Tags) > 0 {
			c.add(tagsCond(content, "$.tags", f.Tags), anys(f.Tags)...)
		}
		if f.StartDate > 0 {
			c.add(lu+" >= ?", f.StartDate)
		}
		if f.EndDate > 0 {
			c.add(lu+" < ?", f.EndDate)
		}
		if keyset != nil {
			keyset(c, lu)
		}
		return c
	}
	plain, amended := arm(false), arm(true)
	join := ` FROM posts a CROSS JOIN posts o ON o.item_hash = a.amends`
	if byOriginal {
		join = ` FROM posts o CROSS JOIN posts a ON a.item_hash = o.latest_amend`
	}
	q := `SELECT o.item_hash AS oh, NULL AS ah, o.creation_time AS lu FROM posts o` + plain.where() +
		` UNION ALL SELECT o.item_hash AS oh, a.item_hash AS ah, a.creation_time AS lu` + join +
		amended.where() + " ORDER BY lu " + dir(f.SortAsc) + ", oh ASC"
	return q, append(plain.args, amended.args...)
}

// ListPosts lists original posts merged with their latest amend, by last
// update (newest first unless f.SortAsc), ties broken by original hash.
func (r reader) ListPosts(ctx context.Context, f store.PostFilter) (*store.PostPage, error) {
	page := &store.PostPage{Posts: []store.MergedPost{}}
	var limit, offset int
	var keyset func(c *conds, timeCol string)
	if f.Cursor != nil {
		page.Total = -1
		limit = cursorLimit(f.Pagination)
		if *f.Cursor != "" {
			t, h, err := store.DecodeTimeCursor(*f.Cursor)
			if err != nil {
				return nil, err
			}
			keyset = func(c *conds, timeCol string) { timeKeyset(c, timeCol, "o.item_hash", f.SortAsc, t, h) }
		}
	} else {
		limit, offset = pageBounds(f.Pagination, f.Page)
	}
	fetch := limit
	if f.Cursor != nil {
		fetch = limit + 1
	}
	q, args := postArms(f, keyset)
	type key struct {
		original, amend string
		lu              float64
	}
	rows, err := r.q.QueryContext(ctx, q+limitClause(fetch, offset), args...)
	if err != nil {
		return nil, err
	}
	var keys []key
	for rows.Next() {
		var k key
		var amend sql.NullString
		if err := rows.Scan(&k.original, &amend, &k.lu); err != nil {
			rows.Close()
			return nil, err
		}
		k.amend = amend.String
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if f.Cursor != nil && len(keys) > limit {
		keys = keys[:limit]
		last := keys[limit-1]
		page.NextCursor = store.EncodeTimeCursor(last.lu, last.original)
	}

	hashes := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		hashes = append(hashes, k.original)
		if k.amend != "" {
			hashes = append(hashes, k.amend)
		}
	}
	posts, recs, err := r.postsAndRecords(ctx, hashes)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		op, orec := posts[k.original], recs[k.original]
		if op == nil || orec == nil {
			continue // forgotten between the two reads
		}
		mp := store.MergedPost{Original: *orec, Post: *op}
		if k.amend != "" {
			mp.Latest, mp.LatestPost = recs[k.amend], posts[k.amend]
			if mp.Latest == nil || mp.LatestPost == nil {
				mp.Latest, mp.LatestPost = nil, nil
			}
		}
		page.Posts = append(page.Posts, mp)
	}
	if f.Cursor != nil {
		return page, nil
	}
	if total, ok := shortPageTotal(limit, offset, len(keys)); ok {
		page.Total = total
		return page, nil
	}
	// The total counts originals with the filters on their merged form.
	c := &conds{}
	c.add("o.amends IS NULL")
	c.in("o.item_hash", f.Hashes)
	c.in("o.owner", f.Addresses)
	c.in("o.ref", f.Refs)
	c.in("o.type", f.Types)
	c.in("o.channel", f.Channels)
	from := ` FROM posts o`
	if len(f.Tags) > 0 || f.StartDate > 0 || f.EndDate > 0 {
		from += ` LEFT JOIN posts a ON a.item_hash = o.latest_amend`
		if len(f.Tags) > 0 {
			c.add(tagsCond("coalesce(a.content, o.content)", "$.tags", f.Tags), anys(f.Tags)...)
		}
		if f.StartDate > 0 {
			c.add(postLastUpdated+" >= ?", f.StartDate)
		}
		if f.EndDate > 0 {
			c.add(postLastUpdated+" < ?", f.EndDate)
		}
	}
	if page.Total, err = r.count(ctx, `SELECT count(*)`+from+c.where(), c.args); err != nil {
		return nil, err
	}
	return page, nil
}

// inChunk bounds the number of parameters of one IN list.
const inChunk = 500

// postsAndRecords loads the posts rows and message rows of hashes.
func (r reader) postsAndRecords(ctx context.Context, hashes []string) (map[string]*store.Post, map[string]*store.Record, error) {
	posts := make(map[string]*store.Post, len(hashes))
	recs := make(map[string]*store.Record, len(hashes))
	for len(hashes) > 0 {
		n := min(len(hashes), inChunk)
		chunk := hashes[:n]
		hashes = hashes[n:]
		rows, err := r.q.QueryContext(ctx, `SELECT `+postColumns+` FROM posts WHERE item_hash IN (`+placeholders(n)+`)`, anys(chunk)...)
		if err != nil {
			return nil, nil, err
		}
		for rows.Next() {
			p, err := scanPost(rows)
			if err != nil {
				rows.Close()
				return nil, nil, err
			}
			posts[p.ItemHash] = p
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
		list, err := r.queryRecords(ctx, `SELECT `+recordColumns+` FROM messages WHERE item_hash IN (`+placeholders(n)+`)`, anys(chunk))
		if err != nil {
			return nil, nil, err
		}
		for i := range list {
			recs[list[i].ItemHash] = &list[i]
		}
	}
	return posts, recs, nil
}

// ListAggregates lists merged aggregates by last modification (or
// creation) time, newest first unless f.SortAsc, ties broken by key then
// owner in the same direction (so that one index gives the whole order).
func (r reader) ListAggregates(ctx context.Context, f store.AggregateFilter) (*store.AggregatePage, error) {
	col := "last_revision_time"
	if f.SortBy == "creation_time" {
		col = "creation_time"
	}
	c := &conds{}
	c.in("key", f.Keys)
	c.in("owner", f.Addresses)
	d := dir(f.SortAsc)
	order := " ORDER BY " + col + " " + d + ", key " + d + ", owner " + d
	page := &store.AggregatePage{Aggregates: []store.Aggregate{}}
	var limit, offset int
	q := c
	if f.Cursor != nil {
		page.Total = -1
		limit = cursorLimit(f.Pagination)
		if *f.Cursor != "" {
			t, k, o, err := store.DecodeAggregateCursor(*f.Cursor)
			if err != nil {
				return nil, err
			}
			q = c.clone()
			cmp, strict := "<=", "<"
			if f.SortAsc {
				cmp, strict = ">=", ">"
			}
			q.add(col+" "+cmp+" ? AND ("+col+" "+strict+" ? OR key "+strict+" ? OR (key = ? AND owner "+strict+" ?))", t, t, k, k, o)
		}
	} else {
		limit, offset = pageBounds(f.Pagination, f.Page)
	}
	fetch := limit
	if f.Cursor != nil {
		fetch = limit + 1
	}
	rows, err := r.q.QueryContext(ctx, `SELECT owner, key, content, creation_time, last_revision_hash, last_revision_time FROM aggregates`+
		q.where()+order+limitClause(fetch, offset), q.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		a, err := scanAggregate(rows)
		if err != nil {
			return nil, err
		}
		page.Aggregates = append(page.Aggregates, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if f.Cursor != nil {
		if len(page.Aggregates) > limit {
			page.Aggregates = page.Aggregates[:limit]
			last := page.Aggregates[limit-1]
			t := last.LastRevisionTime
			if col == "creation_time" {
				t = last.CreationTime
			}
			page.NextCursor = store.EncodeAggregateCursor(t, last.Key, last.Owner)
		}
		return page, nil
	}
	if total, ok := shortPageTotal(limit, offset, len(page.Aggregates)); ok {
		page.Total = total
		return page, nil
	}
	if page.Total, err = r.count(ctx, `SELECT count(*) FROM aggregates`+c.where(), c.args); err != nil {
		return nil, err
	}
	return page, nil
}

// statKeys are the per-type counters of AddressStats besides "messages".
var statKeys = []string{"aggregate", "forget", "instance", "post", "program", "store"}

// AddressStats counts the messages of each sender by type. With no
// addresses it reports every sender.
func (r reader) AddressStats(ctx context.Context, addresses []string) (map[string]map[string]int, error) {
	c := &conds{}
	c.in("sender", addresses)
	rows, err := r.q.QueryContext(ctx, `SELECT sender, type, count(*) FROM messages`+c.where()+` GROUP BY sender, type`, c.args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]int{}
	for rows.Next() {
		var addr, typ string
		var n int
		if err := rows.Scan(&addr, &typ, &n); err != nil {
			return nil, err
		}
		st := out[addr]
		if st == nil {
			st = map[string]int{"messages": 0}
			for _, k := range statKeys {
				st[k] = 0
			}
			out[addr] = st
		}
		st[strings.ToLower(typ)] += n
		st["messages"] += n
	}
	return out, rows.Err()
}

// Channels returns the distinct non-empty channels of stored messages,
// sorted. It walks the channel index from one value to the next, so it
// costs one index seek per channel rather than a scan of every message.
func (r reader) Channels(ctx context.Context) ([]string, error) {
	out := []string{}
	last := ""
	for {
		var ch string
		err := r.q.QueryRowContext(ctx, `SELECT channel FROM messages WHERE channel > ? ORDER BY channel LIMIT 1`, last).Scan(&ch)
		if err == sql.ErrNoRows {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ch)
		last = ch
	}
	return out, nil
}

// firstConfirmedTime is the block time of a messages row's first
// confirmation (NULL when unconfirmed).
const firstConfirmedTime = `(SELECT min(time) FROM message_confirmations mc WHERE mc.item_hash = messages.item_hash)`

// firstConfirmedHeight is the height of a messages row's first
// confirmation (NULL when unconfirmed).
const firstConfirmedHeight = `(SELECT min(height) FROM message_confirmations mc WHERE mc.item_hash = messages.item_hash)`
