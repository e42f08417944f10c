package replaytest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
)

var storeOptions = files.AddOptions{}

// State is what a rebuilt node must share with the packer node: the
// status of every processed and forgotten message, each processed
// message's confirmations, the forgotten skeletons, the merged posts and
// the aggregates. Node-local fields (reception times) are left out; JSON
// is compacted with its keys sorted, so that the two backends compare.
type State struct {
	Status        map[string]store.Status
	Confirmations map[string][]string // "chain tx height block"
	Forgotten     map[string]store.Forgotten
	Messages      map[string]store.Record // processed
	Posts         []store.MergedPost      // by original hash
	Aggregates    []store.Aggregate       // by owner, key
	Pending       int64
}

// Snapshot reads st's state.
func Snapshot(ctx context.Context, st store.Store) (*State, error) {
	s := &State{Status: map[string]store.Status{}, Confirmations: map[string][]string{},
		Forgotten: map[string]store.Forgotten{}, Messages: map[string]store.Record{}}
	live, err := st.ListMessages(ctx, store.MessageFilter{Statuses: []store.Status{store.StatusProcessed, store.StatusRemoving}})
	if err != nil {
		return nil, err
	}
	var processed []string
	for _, r := range live.Records {
		if r, err = normRecord(r); err != nil {
			return nil, err
		}
		s.Status[r.ItemHash] = r.Status
		s.Messages[r.ItemHash] = r
		processed = append(processed, r.ItemHash)
	}
	gone, err := st.ListMessages(ctx, store.MessageFilter{Statuses: []store.Status{store.StatusForgotten}})
	if err != nil {
		return nil, err
	}
	for _, f := range gone.Forgotten {
		f.ReceptionTime = 0
		s.Status[f.ItemHash] = store.StatusForgotten
		s.Forgotten[f.ItemHash] = f
	}
	// The lists must hold the whole set the node would reconcile.
	err = st.Hashes(ctx, func(_ float64, h string) error {
		if _, ok := s.Status[h]; !ok {
			s.Status[h] = "unlisted"
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := 0; i < len(processed); i += 1000 {
		confs, err := st.Confirmations(ctx, processed[i:min(i+1000, len(processed))])
		if err != nil {
			return nil, err
		}
		for h, cs := range confs {
			for _, c := range cs {
				s.Confirmations[h] = append(s.Confirmations[h], fmt.Sprintf("%s %s %d %s", c.Chain, c.TxHash, c.Height, c.BlockHash))
			}
		}
	}
	for page := 1; ; page++ {
		pp, err := st.ListPosts(ctx, store.PostFilter{Pagination: 500, Page: page})
		if err != nil {
			return nil, err
		}
		for _, p := range pp.Posts {
			if p, err = normPost(p); err != nil {
				return nil, err
			}
			s.Posts = append(s.Posts, p)
		}
		if len(pp.Posts) < 500 {
			break
		}
	}
	slices.SortFunc(s.Posts, func(a, b store.MergedPost) int { return cmp.Compare(a.Original.ItemHash, b.Original.ItemHash) })
	for page := 1; ; page++ {
		ap, err := st.ListAggregates(ctx, store.AggregateFilter{Pagination: 500, Page: page})
		if err != nil {
			return nil, err
		}
		for _, a := range ap.Aggregates {
			if a.Content, err = normJSON(a.Content); err != nil {
				return nil, err
			}
			s.Aggregates = append(s.Aggregates, a)
		}
		if len(ap.Aggregates) < 500 {
			break
		}
	}
	slices.SortFunc(s.Aggregates, func(a, b store.Aggregate) int {
		return cmp.Or(cmp.Compare(a.Owner, b.Owner), cmp.Compare(a.Key, b.Key))
	})
	c, err := st.Counts(ctx)
	if err != nil {
		return nil, err
	}
	s.Pending = c.Pending
	return s, nil
}

func normRecord(r store.Record) (store.Record, error) {
	r.ReceptionTime = 0
	r.Confirmations = nil
	var err error
	r.Content, err = normJSON(r.Content)
	return r, err
}

func normPost(p store.MergedPost) (store.MergedPost, error) {
	var err error
	if p.Original, err = normRecord(p.Original); err != nil {
		return p, err
	}
	if p.Post.Content, err = normJSON(p.Post.Content); err != nil {
		return p, err
	}
	if p.Latest != nil {
		l, err := normRecord(*p.Latest)
		if err != nil {
			return p, err
		}
		p.Latest = &l
	}
	if p.LatestPost != nil {
		l := *p.LatestPost
		if l.Content, err = normJSON(l.Content); err != nil {
			return p, err
		}
		p.LatestPost = &l
	}
	return p, nil
}

// normJSON re-encodes a JSON value compactly with sorted keys, numbers
// as written.
func normJSON(b json.RawMessage) (json.RawMessage, error) {
	if len(b) == 0 {
		return b, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("normalise %.80s: %w", b, err)
	}
	return json.Marshal(v)
}

// Count is the number of processed and forgotten messages.
func (s *State) Count() int { return len(s.Status) }

// ByStatus counts the messages of each status.
func (s *State) ByStatus() map[store.Status]int {
	out := map[store.Status]int{}
	for _, st := range s.Status {
		out[st]++
	}
	return out
}

// Compare lists the differences between want and got (at most 20 lines
// per part); it returns an error wrapping ErrDiffer when there is one.
func Compare(want, got *State) error {
	var diffs []string
	add := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }
	mapDiff(add, "status", want.Status, got.Status)
	mapDiff(add, "confirmations", want.Confirmations, got.Confirmations)
	mapDiff(add, "forgotten", want.Forgotten, got.Forgotten)
	mapDiff(add, "message", want.Messages, got.Messages)
	if len(want.Posts) != len(got.Posts) {
		add("posts: %d, want %d", len(got.Posts), len(want.Posts))
	}
	n := 0
	for i := range min(len(want.Posts), len(got.Posts)) {
		if !reflect.DeepEqual(want.Posts[i], got.Posts[i]) && n < 20 {
			n++
			add("post %d: %s, want %s", i, js(got.Posts[i]), js(want.Posts[i]))
		}
	}
	if !reflect.DeepEqual(want.Aggregates, got.Aggregates) {
		add("aggregates: %s, want %s", js(got.Aggregates), js(want.Aggregates))
	}
	if got.Pending != want.Pending {
		add("pending: %d, want %d", got.Pending, want.Pending)
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n%s", ErrDiffer, strings.Join(diffs, "\n"))
}

func mapDiff[V any](add func(string, ...any), what string, want, got map[string]V) {
	n := 0
	keys := make([]string, 0, len(want)+len(got))
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		w, okw := want[k]
		g, okg := got[k]
		if okw && okg && reflect.DeepEqual(w, g) {
			continue
		}
		if n++; n > 20 {
			add("%s: more differences", what)
			return
		}
		switch {
		case !okg:
			add("%s %s: missing, want %s", what, k, js(w))
		case !okw:
			add("%s %s: %s, not expected", what, k, js(g))
		default:
			add("%s %s: %s, want %s", what, k, js(g), js(w))
		}
	}
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 600 {
		b = append(b[:600], "…"...)
	}
	return string(b)
}
