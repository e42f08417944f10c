package api

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/goaleph/goaleph/internal/store"
)

// getAggregates is GET /api/v0/aggregates/{address}.json?keys&with_info&
// value_only: {"address", "data": {key: content}, "info": {…}}, or the bare
// content of the one key asked for with value_only; 404 when nothing
// matches.
func (s *Server) getAggregates(w http.ResponseWriter, r *http.Request) {
	address := strings.TrimSuffix(r.PathValue("address"), ".json")
	p := newParams(r)
	keys := p.list("keys")
	withInfo := p.bool("with_info", false)
	valueOnly := p.bool("value_only", false)
	p.int("limit", 1000, 0, -1) // accepted, unused (as the reference node)
	if p.err != nil {
		s.failQuery(w, r, p.err)
		return
	}
	aggs, err := s.cfg.Store.Aggregates(r.Context(), address, keys)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if aggs, err = s.withVirtual(r.Context(), aggs, address, keys); err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if len(aggs) == 0 {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("no aggregate found for address %s", address))
		return
	}
	var out jsonw
	if valueOnly && len(keys) == 1 {
		out.raw(aggs[0].Content)
		out.send(w, http.StatusOK)
		return
	}
	out.WriteString(`{"address":`)
	out.str(address)
	out.key("data")
	out.WriteByte('{')
	for _, a := range aggs {
		out.key(a.Key)
		out.raw(a.Content)
	}
	out.WriteByte('}')
	out.key("info")
	out.WriteByte('{')
	if withInfo {
		for _, a := range aggs {
			out.key(a.Key)
			out.WriteString(`{"created":`)
			out.str(isoTime(a.CreationTime, ' ', false))
			out.strField("last_updated", isoTime(a.LastRevisionTime, ' ', false))
			// Both hashes are the last revision's, as the reference node.
			out.strField("original_item_hash", a.LastRevisionHash)
			out.strField("last_update_item_hash", a.LastRevisionHash)
			out.WriteByte('}')
		}
	}
	out.WriteString("}}")
	out.send(w, http.StatusOK)
}

// listAggregates is GET /api/v0/aggregates(.json)?keys&addresses&sortBy&
// sortOrder&pagination&page&cursor.
func (s *Server) listAggregates(w http.ResponseWriter, r *http.Request) {
	p := newParams(r)
	f := store.AggregateFilter{
		Keys:       p.list("keys"),
		Addresses:  p.list("addresses"),
		Pagination: p.int("pagination", defaultPagination, 1, 500),
		Page:       p.int("page", 1, 1, -1),
	}
	switch sb, _ := p.get("sortBy"); sb {
	case "", "last_modified":
		f.SortBy = "last_modified"
	case "creation_time":
		f.SortBy = "creation_time"
	default:
		p.fail("sortBy: %q is not last_modified or creation_time", sb)
	}
	f.SortAsc = p.sortAsc()
	c, cursor := p.get("cursor")
	if cursor {
		f.Cursor = &c
		f.Pagination = min(f.Pagination, maxCursorPage)
	}
	if p.err != nil {
		s.failQuery(w, r, p.err)
		return
	}
	res, err := s.cfg.Store.ListAggregates(r.Context(), f)
	if err != nil {
		s.failStore(w, r, err)
		return
	}
	var out jsonw
	out.WriteString(`{"aggregates":[`)
	for i, a := range res.Aggregates {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteString(`{"address":`)
		out.str(a.Owner)
		out.strField("key", a.Key)
		out.key("content")
		out.raw(a.Content)
		out.strField("created", isoTime(a.CreationTime, 'T', false))
		out.strField("last_updated", isoTime(a.LastRevisionTime, 'T', false))
		out.WriteByte('}')
	}
	out.endListPage(w, cursor, f.Page, f.Pagination, res.Total, res.NextCursor, "aggregates")
}

// withVirtual merges the computed aggregates of address into aggs, in key
// order, a computed one replacing a stored one of the same key.
func (s *Server) withVirtual(ctx context.Context, aggs []store.Aggregate, address string, keys []string) ([]store.Aggregate, error) {
	if s.cfg.VirtualAggregates == nil {
		return aggs, nil
	}
	virt, err := s.cfg.VirtualAggregates(ctx, address, keys)
	if err != nil || len(virt) == 0 {
		return aggs, err
	}
	byKey := map[string]store.Aggregate{}
	for _, a := range aggs {
		byKey[a.Key] = a
	}
	for _, a := range virt {
		byKey[a.Key] = a
	}
	out := make([]store.Aggregate, 0, len(byKey))
	for _, a := range byKey {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
