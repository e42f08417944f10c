package api

import (
	"net/http"

	"github.com/goaleph/goaleph/internal/store"
)

// parsePostQuery reads the posts.json filters (spec §9.2).
func parsePostQuery(w http.ResponseWriter, r *http.Request, s *Server) (f store.PostFilter, cursor bool, ok bool) {
	page, fromPath, pathOK := pathPage(r)
	if !pathOK {
		s.notFound(w, r)
		return f, false, false
	}
	p := newParams(r)
	f.Addresses = p.list("addresses")
	f.Hashes = p.hashList("hashes")
	f.Refs = p.list("refs")
	f.Types = p.list("types")
	f.Tags = p.list("tags")
	f.Channels = p.list("channels")
	f.StartDate, f.EndDate = p.dates()
	f.Pagination = p.pageSize(defaultPagination)
	f.Page = p.int("page", 1, 1, -1)
	if fromPath {
		f.Page = page
	}
	txTime := false
	switch s, _ := p.get("sortBy"); s {
	case "", "time":
	case "tx-time":
		txTime = true
	default:
		p.fail("sortBy: %q is not time or tx-time", s)
	}
	f.SortAsc = p.sortAsc()
	if c, has := p.get("cursor"); has {
		if txTime {
			p.fail("cursor pagination is not supported with tx-time sort order")
		}
		f.Cursor = &c
		if f.Pagination <= 0 || f.Pagination > maxCursorPage {
			f.Pagination = maxCursorPage
		}
		cursor = true
	}
	if p.err != nil {
		s.failQuery(w, r, p.err)
		return f, false, false
	}
	return f, cursor, true
}

// listPosts answers a posts list, each item written by item; with
// confirmations, the records item writes carry their confirmations.
func (s *Server) listPosts(w http.ResponseWriter, r *http.Request, item func(*jsonw, *store.MergedPost), confirmations bool) {
	f, cursor, ok := parsePostQuery(w, r, s)
	if !ok {
		return
	}
	res, err := s.cfg.Store.ListPosts(r.Context(), f)
	if err != nil {
		s.failStore(w, r, err)
		return
	}
	if confirmations {
		recs := make([]*store.Record, len(res.Posts))
		for i := range res.Posts {
			recs[i], _ = latest(&res.Posts[i])
		}
		if err := s.fillConfirmations(r.Context(), recs...); err != nil {
			s.failStore(w, r, err)
			return
		}
	}
	var out jsonw
	out.WriteString(`{"posts":[`)
	for i := range res.Posts {
		if i > 0 {
			out.WriteByte(',')
		}
		item(&out, &res.Posts[i])
	}
	out.endListPage(w, cursor, f.Page, f.Pagination, res.Total, res.NextCursor, "posts")
}

// listPostsV0 is GET /api/v0/posts.json: originals merged with their
// latest amend, in the legacy message-like shape the SDKs read.
func (s *Server) listPostsV0(w http.ResponseWriter, r *http.Request) {
	s.listPosts(w, r, writePostV0, true)
}

// listPostsV1 is GET /api/v1/posts.json.
func (s *Server) listPostsV1(w http.ResponseWriter, r *http.Request) {
	s.listPosts(w, r, writePostV1, false)
}

// latest returns the version of a post that is served: its latest amend,
// or the original.
func latest(mp *store.MergedPost) (*store.Record, *store.Post) {
	if mp.Latest != nil && mp.LatestPost != nil {
		return mp.Latest, mp.LatestPost
	}
	return &mp.Original, &mp.Post
}

// postV0Order is the key order of a legacy posts.json item.
var postV0Order = []string{"chain", "item_hash", "sender", "type", "channel", "confirmed",
	"content", "item_content", "item_type", "signature", "size", "time", "confirmations",
	"original_item_hash", "original_signature", "original_type", "hash", "address", "ref"}

// writePostV0 writes a merged post as the legacy posts.json lists it:
// message fields of the latest version, identity of the original.
func writePostV0(w *jsonw, mp *store.MergedPost) {
	rec, post := latest(mp)
	writeEnvelope(w, &rec.Message, postV0Order, func(k string) bool {
		switch k {
		case "chain":
			w.str(mp.Original.Chain)
		case "sender", "address":
			w.str(mp.Post.Owner)
		case "type":
			w.str(post.Type)
		case "original_type":
			w.str(mp.Post.Type)
		case "channel":
			w.strOrNull(mp.Post.Channel)
		case "content":
			w.raw(post.Content)
		case "size":
			w.int(rec.Size)
		case "original_item_hash", "hash":
			w.str(mp.Original.ItemHash)
		case "original_signature":
			w.strOrNull(mp.Original.Signature)
		case "ref":
			w.strOrNull(mp.Post.Ref)
		default:
			return writeConfirmations(w, k, rec.Confirmations)
		}
		return true
	})
}

// writePostV1 writes {item_hash, content, original_item_hash,
// original_type, address, ref, channel, created, last_updated}.
func writePostV1(w *jsonw, mp *store.MergedPost) {
	_, post := latest(mp)
	w.WriteString(`{"item_hash":`)
	w.str(post.ItemHash)
	w.key("content")
	w.raw(post.Content)
	w.key("original_item_hash")
	w.str(mp.Post.ItemHash)
	w.key("original_type")
	w.str(mp.Post.Type)
	w.key("address")
	w.str(mp.Post.Owner)
	w.key("ref")
	w.strOrNull(mp.Post.Ref)
	w.key("channel")
	w.strOrNull(mp.Post.Channel)
	w.key("created")
	w.str(isoTime(mp.Post.CreationTime, 'T', false))
	w.key("last_updated")
	w.str(isoTime(post.CreationTime, 'T', false))
	w.WriteByte('}')
}
