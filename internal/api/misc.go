package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/goaleph/goaleph/internal/store"
)

// addressStatKeys is the order of the per-address counters.
var addressStatKeys = []string{"messages", "aggregate", "forget", "instance", "post", "program", "store"}

// addressStats is GET /api/v0/addresses/stats.json?addresses[]=…:
// {"data": {address: {messages, aggregate, forget, instance, post,
// program, store}}}.
func (s *Server) addressStats(w http.ResponseWriter, r *http.Request) {
	p := newParams(r)
	addrs := p.list("addresses")
	if p.err != nil {
		s.failQuery(w, r, p.err)
		return
	}
	stats, err := s.cfg.Store.AddressStats(r.Context(), addrs)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	order := make([]string, 0, len(stats))
	for a := range stats {
		order = append(order, a)
	}
	slices.Sort(order)
	var out jsonw
	out.WriteString(`{"data":{`)
	for _, a := range order {
		out.key(a)
		out.WriteByte('{')
		for _, k := range addressStatKeys {
			out.key(k)
			out.int(int64(stats[a][k]))
		}
		out.WriteByte('}')
	}
	out.WriteString("}}")
	out.send(w, http.StatusOK)
}

// addressFiles is GET /api/v0/addresses/{address}/files?pagination&page&sort_order:
// the files pinned by the address's STORE messages, newest first unless
// sort_order=1, as {address, total_size, files: [{file_hash, size, type,
// created, item_hash}], pagination_page, pagination_total,
// pagination_per_page}. Like the reference node, 404 when the page is empty.
func (s *Server) addressFiles(w http.ResponseWriter, r *http.Request) {
	address := r.PathValue("address")
	p := newParams(r)
	pagination := p.pageSize(100)
	page := p.int("page", 1, 1, -1)
	asc := false
	switch v, _ := p.get("sort_order"); strings.TrimSpace(v) {
	case "", "-1":
	case "1":
		asc = true
	default:
		p.fail("sort_order: %q is not -1 or 1", v)
	}
	if p.err != nil {
		s.failQuery(w, r, p.err)
		return
	}
	files, total, size, err := s.cfg.Store.AddressFiles(r.Context(), address, pagination, page, asc)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if len(files) == 0 {
		s.notFound(w, r)
		return
	}
	var out jsonw
	out.WriteByte('{')
	out.strField("address", address)
	out.intField("total_size", size)
	out.key("files")
	out.WriteByte('[')
	for i, f := range files {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteByte('{')
		out.strField("file_hash", f.FileHash)
		out.intField("size", f.Size)
		out.strField("type", f.Type)
		out.strField("created", pydanticTime(f.Created))
		out.strField("item_hash", f.ItemHash)
		out.WriteByte('}')
	}
	out.WriteByte(']')
	out.pagination(filesPageOrder, page, pagination, total, "")
	out.WriteByte('}')
	out.send(w, http.StatusOK)
}

// authEntry is one entry of a security aggregate's "authorizations",
// without its "address".
type authEntry struct {
	fields map[string]json.RawMessage
	raw    json.RawMessage // the entry as stored
}

// authGroups groups entries by address, in order of first appearance.
type authGroups struct {
	order []string
	by    map[string][]authEntry
}

func (g *authGroups) add(addr string, e authEntry) {
	if g.by == nil {
		g.by = map[string][]authEntry{}
	}
	if _, ok := g.by[addr]; !ok {
		g.order = append(g.order, addr)
	}
	g.by[addr] = append(g.by[addr], e)
}

// securityEntries returns the entries of a security aggregate content with
// their address.
func securityEntries(content json.RawMessage) (addrs []string, entries []authEntry) {
	var sec struct {
		Authorizations []json.RawMessage `json:"authorizations"`
	}
	if json.Unmarshal(content, &sec) != nil {
		return nil, nil
	}
	for _, raw := range sec.Authorizations {
		var fields map[string]json.RawMessage
		if json.Unmarshal(raw, &fields) != nil {
			continue
		}
		var addr string
		if json.Unmarshal(fields["address"], &addr) != nil || addr == "" {
			continue
		}
		delete(fields, "address")
		addrs = append(addrs, addr)
		entries = append(entries, authEntry{fields: fields, raw: raw})
	}
	return addrs, entries
}

// authFilter is the filter of the authorization endpoints: an entry
// without a restriction on a dimension matches any value of it.
type authFilter struct {
	channels, types, postTypes, chains, aggregateKeys []string
}

func (f authFilter) match(e authEntry) bool {
	overlap := func(field string, want []string) bool {
		if len(want) == 0 {
			return true
		}
		var have []string
		if json.Unmarshal(e.fields[field], &have) != nil || len(have) == 0 {
			return true
		}
		for _, h := range have {
			if slices.Contains(want, h) {
				return true
			}
		}
		return false
	}
	if !overlap("channels", f.channels) || !overlap("types", f.types) || !overlap("post_types", f.postTypes) ||
		!overlap("aggregate_keys", f.aggregateKeys) {
		return false
	}
	if len(f.chains) > 0 {
		var chain string
		if json.Unmarshal(e.fields["chain"], &chain) == nil && chain != "" && !slices.Contains(f.chains, chain) {
			return false
		}
	}
	return true
}

// authorizations answers the granted/received endpoints given the groups
// of entries by address and the name of the counterpart filter.
func (s *Server) authorizations(w http.ResponseWriter, r *http.Request, counterpart string, groups func(address string) (*authGroups, error)) {
	address := strings.TrimSuffix(r.PathValue("address"), ".json")
	p := newParams(r)
	f := authFilter{
		channels: p.list("channels"), types: p.list("types"), postTypes: p.list("postTypes"),
		chains: p.list("chains"), aggregateKeys: p.list("aggregateKeys"),
	}
	other, _ := p.get(counterpart)
	pagination := p.int("pagination", 20, 1, 500)
	page := p.int("page", 1, 1, -1)
	if p.err != nil {
		s.failQuery(w, r, p.err)
		return
	}
	g, err := groups(address)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	var kept []string
	for _, addr := range g.order {
		if other != "" && addr != other {
			continue
		}
		var entries []authEntry
		for _, e := range g.by[addr] {
			if f.match(e) {
				entries = append(entries, e)
			}
		}
		if len(entries) > 0 {
			g.by[addr] = entries
			kept = append(kept, addr)
		}
	}
	total := len(kept)
	start := min((page-1)*pagination, total)
	end := min(start+pagination, total)
	var out jsonw
	out.WriteString(`{"authorizations":{`)
	for _, addr := range kept[start:end] {
		out.key(addr)
		out.WriteByte('[')
		for i, e := range g.by[addr] {
			if i > 0 {
				out.WriteByte(',')
			}
			writeEntry(&out, e)
		}
		out.WriteByte(']')
	}
	out.WriteByte('}')
	out.pagination(authorizationsPageOrder, page, pagination, total, "authorizations")
	out.strField("address", address)
	out.WriteByte('}')
	out.send(w, http.StatusOK)
}

// writeEntry writes an entry without its address, fields in stored order.
func writeEntry(w *jsonw, e authEntry) {
	dec := json.NewDecoder(bytes.NewReader(e.raw))
	dec.UseNumber()
	w.WriteByte('{')
	if _, err := dec.Token(); err == nil {
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				break
			}
			k, _ := t.(string)
			var v json.RawMessage
			if dec.Decode(&v) != nil {
				break
			}
			if k == "address" {
				continue
			}
			w.key(k)
			w.raw(v)
		}
	}
	w.WriteByte('}')
}

// authorizationsGranted is GET /api/v0/authorizations/granted/{address}.json:
// the entries of the address's own security aggregate, by grantee.
func (s *Server) authorizationsGranted(w http.ResponseWriter, r *http.Request) {
	s.authorizations(w, r, "grantee", func(address string) (*authGroups, error) {
		g := &authGroups{}
		content, err := s.cfg.Store.Security(r.Context(), address)
		if err != nil || content == nil {
			return g, err
		}
		addrs, entries := securityEntries(content)
		for i, a := range addrs {
			g.add(a, entries[i])
		}
		return g, nil
	})
}

// authorizationsReceived is GET /api/v0/authorizations/received/{address}.json:
// the entries naming the address in other addresses' security aggregates,
// by granter.
func (s *Server) authorizationsReceived(w http.ResponseWriter, r *http.Request) {
	s.authorizations(w, r, "granter", func(address string) (*authGroups, error) {
		g := &authGroups{}
		page, err := s.cfg.Store.ListAggregates(r.Context(), store.AggregateFilter{Keys: []string{"security"}, SortAsc: true})
		if err != nil {
			return nil, err
		}
		for _, a := range page.Aggregates {
			addrs, entries := securityEntries(a.Content)
			for i, addr := range addrs {
				if addr == address {
					g.add(a.Owner, entries[i])
				}
			}
		}
		return g, nil
	})
}

// channels is GET /api/v0/channels/list.json.
func (s *Server) channels(w http.ResponseWriter, r *http.Request) {
	chs, err := s.cfg.Store.Channels(r.Context())
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	var out jsonw
	out.WriteString(`{"channels":`)
	out.value(nonNil(chs))
	out.WriteByte('}')
	out.send(w, http.StatusOK)
}

// publicInfo is GET /api/v0/info/public.json. This node announces no
// multiaddress yet.
func (s *Server) publicInfo(w http.ResponseWriter, r *http.Request) {
	var out jsonw
	out.WriteString(`{"node_multi_addresses":[]}`)
	out.send(w, http.StatusOK)
}
