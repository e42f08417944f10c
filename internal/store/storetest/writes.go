package storetest

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

func pendingOf(r *store.Record, sig string, reception float64) *store.Pending {
	m := r.Message
	m.Signature = sig
	return &store.Pending{Message: &m, ReceptionTime: reception, Retries: 0, NextAttempt: reception, Origin: "http"}
}

func testAddPending(t *testing.T, s store.Store) {
	a := newRecord(msg{sender: "0xA", time: 100, contentType: "t", channel: "C", salt: "a"})
	b := newRecord(msg{sender: "0xB", time: 101, contentType: "t", salt: "b"})
	p1, p2 := pendingOf(a, "s1", 10), pendingOf(b, "s1", 11)
	noErr(t, s.AddPending(ctx, []*store.Pending{p1, p2}))
	if p1.ID <= 0 || p2.ID <= 0 || p1.ID == p2.ID {
		t.Fatalf("IDs not assigned: %d %d", p1.ID, p2.ID)
	}
	if p2.ID < p1.ID {
		t.Errorf("IDs not increasing: %d then %d", p1.ID, p2.ID)
	}
	// The same copy again is skipped; another signature is a new copy.
	dup, other := pendingOf(a, "s1", 12), pendingOf(a, "s2", 9)
	noErr(t, s.AddPending(ctx, []*store.Pending{dup, other}))
	if dup.ID != 0 {
		t.Errorf("duplicate pending got ID %d, want 0", dup.ID)
	}
	if other.ID <= p2.ID {
		t.Errorf("second copy ID %d, want > %d", other.ID, p2.ID)
	}
	st := get(s.Status(ctx, a.ItemHash)).must(t)
	if st.Status != store.StatusPending || st.ItemHash != a.ItemHash || len(st.Pending) != 2 {
		t.Fatalf("status: %+v", st)
	}
	if st.ReceptionTime != 9 {
		t.Errorf("pending reception time %v, want the earliest copy's 9", st.ReceptionTime)
	}
	for _, p := range st.Pending {
		if p.Message.ItemHash != a.ItemHash || p.Message.ItemContent != a.ItemContent {
			t.Errorf("pending copy %+v", p.Message)
		}
	}
}

func testInsertPending(t *testing.T, s store.Store) {
	a := newRecord(msg{sender: "0xA", time: 100, contentType: "t", salt: "ip"})
	p := pendingOf(a, "s1", 10)
	dup := pendingOf(a, "s1", 11)
	noErr(t, s.Update(ctx, func(tx store.Tx) error {
		if err := tx.InsertPending(p); err != nil {
			return err
		}
		return tx.InsertPending(dup)
	}))
	if p.ID <= 0 || dup.ID != 0 {
		t.Fatalf("IDs %d and %d, want a new ID then 0 for the same copy", p.ID, dup.ID)
	}
	// A rolled-back transaction leaves nothing pending.
	rolledBack := pendingOf(newRecord(msg{sender: "0xB", time: 101, contentType: "t", salt: "rb"}), "s", 12)
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.InsertPending(rolledBack); err != nil {
			return err
		}
		return errors.New("abort")
	})
	if err == nil {
		t.Fatal("Update returned nil for an aborted transaction")
	}
	ps, err := s.ListPending(ctx, 0, 100)
	noErr(t, err)
	if len(ps) != 1 || ps[0].ID != p.ID || ps[0].Message.ItemHash != a.ItemHash {
		t.Fatalf("pending after insert and rollback: %+v", ps)
	}
}

func testSeen(t *testing.T, s store.Store) {
	a := newRecord(msg{sender: "0xA", time: 100, contentType: "t", salt: "seen-a"})
	b := newRecord(msg{sender: "0xA", time: 101, contentType: "t", salt: "seen-b"})
	var before, processed, forgotten store.Seen
	noErr(t, s.Update(ctx, func(tx store.Tx) error {
		var err error
		if before, err = tx.Seen(a.ItemHash); err != nil {
			return err
		}
		for _, r := range []*store.Record{a, b} {
			if _, err := tx.InsertMessage(r); err != nil {
				return err
			}
		}
		if err := tx.Forget(b.ItemHash, "f", 200); err != nil {
			return err
		}
		if processed, err = tx.Seen(a.ItemHash); err != nil {
			return err
		}
		forgotten, err = tx.Seen(b.ItemHash)
		return err
	}))
	if before != (store.Seen{}) {
		t.Errorf("unknown hash: %+v", before)
	}
	if !processed.Processed || processed.Forgotten || processed.Signature != a.Signature {
		t.Errorf("processed hash: %+v, want signature %q", processed, a.Signature)
	}
	if forgotten.Processed || !forgotten.Forgotten {
		t.Errorf("forgotten hash: %+v", forgotten)
	}
}

func testListPending(t *testing.T, s store.Store) {
	var ps []*store.Pending
	for i := range 5 {
		r := newRecord(msg{sender: "0xA", time: float64(100 + i), contentType: "t", channel: "CH", salt: string(rune('a' + i))})
		p := pendingOf(r, "sig", float64(10+i))
		p.Retries, p.NextAttempt, p.Origin = i, float64(20+i), "p2p"
		ps = append(ps, p)
	}
	noErr(t, s.AddPending(ctx, ps))
	all := get(s.ListPending(ctx, 0, 100)).must(t)
	if len(all) != 5 {
		t.Fatalf("ListPending: %d rows, want 5", len(all))
	}
	for i, p := range all {
		want := ps[i]
		if p.ID != want.ID || *p.Message != *want.Message || p.ReceptionTime != want.ReceptionTime ||
			p.Retries != want.Retries || p.NextAttempt != want.NextAttempt || p.Origin != want.Origin {
			t.Errorf("pending %d: got %+v %+v, want %+v %+v", i, p, *p.Message, *want, *want.Message)
		}
	}
	page := get(s.ListPending(ctx, ps[1].ID, 2)).must(t)
	if len(page) != 2 || page[0].ID != ps[2].ID || page[1].ID != ps[3].ID {
		t.Errorf("ListPending after %d limit 2: %+v", ps[1].ID, page)
	}
}

func testUpdateRollback(t *testing.T, s store.Store) {
	r := newRecord(msg{sender: "0xA", time: 100, contentType: "t"})
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.InsertMessage(r); err != nil {
			return err
		}
		if err := tx.InsertPost(&store.Post{ItemHash: r.ItemHash, Owner: "0xA", Type: "t", CreationTime: 100}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want the callback's error", err)
	}
	_, err = s.Message(ctx, r.ItemHash)
	wantNotFound(t, "message of a rolled back transaction", err)
	_, err = s.Status(ctx, r.ItemHash)
	wantNotFound(t, "status of a rolled back transaction", err)
	c := get(s.Counts(ctx)).must(t)
	if c.Messages != 0 {
		t.Errorf("Counts.Messages = %d after rollback, want 0", c.Messages)
	}
	page := get(s.ListPosts(ctx, store.PostFilter{Pagination: 20, Page: 1})).must(t)
	if len(page.Posts) != 0 {
		t.Errorf("posts after rollback: %+v", page.Posts)
	}
}

func testTxReadsOwnWrites(t *testing.T, s store.Store) {
	r := newRecord(msg{sender: "0xA", time: 100, contentType: "t"})
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.InsertMessage(r); err != nil {
			return err
		}
		got, err := tx.Message(ctx, r.ItemHash)
		if err != nil {
			t.Errorf("Message inside the transaction: %v", err)
			return nil
		}
		checkRecord(t, got, r)
		st, err := tx.Status(ctx, r.ItemHash)
		if err != nil || st.Status != store.StatusProcessed {
			t.Errorf("Status inside the transaction: %+v %v", st, err)
		}
		return nil
	})
}

func testInsertMessage(t *testing.T, s store.Store) {
	inline := newRecord(msg{sender: "0xA", owner: "0xOwner", time: 100.125, contentType: "blog", ref: "r1", channel: "CH", salt: "1"})
	stored := newRecord(msg{typ: message.TypeStore, sender: "0xB", time: 200.5, fileHash: "f00d", payment: "hold", nonInline: true, salt: "2"})
	removing := newRecord(msg{typ: message.TypeAggregate, sender: "0xC", time: 300, key: "profile", status: store.StatusRemoving, salt: "3"})
	noChannel := newRecord(msg{sender: "0xD", time: 400, contentType: "x", salt: "4"})
	insert(t, s, inline, stored, removing, noChannel)
	for _, want := range []*store.Record{inline, stored, removing, noChannel} {
		got := get(s.Message(ctx, want.ItemHash)).must(t)
		checkRecord(t, got, want)
		st := get(s.Status(ctx, want.ItemHash)).must(t)
		if st.Status != want.Status || st.ItemHash != want.ItemHash || st.ReceptionTime != want.ReceptionTime || st.Record == nil {
			t.Errorf("status of %s: %+v", want.ItemHash, st)
		} else {
			checkRecord(t, st.Record, want)
		}
	}
	if got := get(s.Message(ctx, stored.ItemHash)).must(t); got.ItemContent != "" {
		t.Errorf("non-inline item_content = %q, want empty", got.ItemContent)
	}
	_, err := s.Message(ctx, sha("nothing"))
	wantNotFound(t, "unknown message", err)
}

func testInsertMessageConflict(t *testing.T, s store.Store) {
	r := newRecord(msg{sender: "0xA", time: 500, contentType: "t"})
	insert(t, s, r)
	later, earlier := *r, *r
	later.Time, earlier.Time = 600, 400
	update(t, s, func(tx store.Tx) error {
		for _, c := range []*store.Record{&later, &earlier} {
			ok, err := tx.InsertMessage(c)
			if err != nil {
				return err
			}
			if ok {
				t.Errorf("InsertMessage of an existing hash returned true")
			}
		}
		return nil
	})
	got := get(s.Message(ctx, r.ItemHash)).must(t)
	if got.Time != 400 {
		t.Errorf("time after conflicting inserts = %v, want the earliest 400", got.Time)
	}
	c := get(s.Counts(ctx)).must(t)
	if c.Messages != 1 {
		t.Errorf("Counts.Messages = %d, want 1", c.Messages)
	}
	page := get(s.ListMessages(ctx, store.MessageFilter{Pagination: 20, Page: 1})).must(t)
	if page.Total != 1 || len(page.Records) != 1 {
		t.Errorf("list after conflict: total %d, %d records", page.Total, len(page.Records))
	}
}

func testPendingLifecycle(t *testing.T, s store.Store) {
	r := newRecord(msg{sender: "0xA", time: 100, contentType: "t"})
	p := pendingOf(r, "sig", 50)
	noErr(t, s.AddPending(ctx, []*store.Pending{p}))
	update(t, s, func(tx store.Tx) error { return tx.RetryPending(p.ID, 3, 999) })
	got := get(s.ListPending(ctx, 0, 10)).must(t)
	if len(got) != 1 || got[0].Retries != 3 || got[0].NextAttempt != 999 {
		t.Fatalf("after RetryPending: %+v", got)
	}
	update(t, s, func(tx store.Tx) error {
		if _, err := tx.InsertMessage(r); err != nil {
			return err
		}
		return tx.DeletePending(p.ID)
	})
	if got := get(s.ListPending(ctx, 0, 10)).must(t); len(got) != 0 {
		t.Errorf("pending left after DeletePending: %+v", got)
	}
	st := get(s.Status(ctx, r.ItemHash)).must(t)
	if st.Status != store.StatusProcessed {
		t.Errorf("status %s, want processed", st.Status)
	}
	c := get(s.Counts(ctx)).must(t)
	if c.Pending != 0 || c.Messages != 1 {
		t.Errorf("counts %+v", c)
	}
}

func testReject(t *testing.T, s store.Store) {
	raw := json.RawMessage(`{"item_hash":"x","sender":"0xA"}`)
	h := sha("rejected")
	update(t, s, func(tx store.Tx) error {
		return tx.Reject(&store.Rejected{ItemHash: h, Message: raw, ErrorCode: message.CodeInvalidSignature, ReceptionTime: 10})
	})
	st := get(s.Status(ctx, h)).must(t)
	if st.Status != store.StatusRejected || st.Rejected == nil {
		t.Fatalf("status %+v", st)
	}
	if !jsonEqual(st.Rejected.Message, raw) || st.Rejected.ErrorCode != message.CodeInvalidSignature || st.Rejected.ItemHash != h {
		t.Errorf("rejected %+v", st.Rejected)
	}
	if len(st.Rejected.Details) != 0 && string(st.Rejected.Details) != "null" {
		t.Errorf("details %s, want none", st.Rejected.Details)
	}
	details := json.RawMessage(`{"errors":["nope"]}`)
	update(t, s, func(tx store.Tx) error {
		return tx.Reject(&store.Rejected{ItemHash: h, Message: raw, ErrorCode: message.CodePermissionDenied, Details: details, ReceptionTime: 20})
	})
	st = get(s.Status(ctx, h)).must(t)
	if st.Rejected.ErrorCode != message.CodePermissionDenied || !jsonEqual(st.Rejected.Details, details) {
		t.Errorf("rejection not replaced: %+v", st.Rejected)
	}
	// A rejected hash submitted again is pending again.
	r := newRecord(msg{sender: "0xA", time: 1, contentType: "t"})
	update(t, s, func(tx store.Tx) error {
		return tx.Reject(&store.Rejected{ItemHash: r.ItemHash, Message: raw, ErrorCode: 0, ReceptionTime: 1})
	})
	noErr(t, s.AddPending(ctx, []*store.Pending{pendingOf(r, "sig", 5)}))
	if st := get(s.Status(ctx, r.ItemHash)).must(t); st.Status != store.StatusPending {
		t.Errorf("resubmitted rejected hash: status %s, want pending", st.Status)
	}
}

func testStatusStates(t *testing.T, s store.Store) {
	_, err := s.Status(ctx, sha("unknown"))
	wantNotFound(t, "Status of an unknown hash", err)
	processed := newRecord(msg{sender: "0xA", time: 1, contentType: "t", salt: "p"})
	removing := newRecord(msg{sender: "0xA", time: 2, contentType: "t", salt: "r", status: store.StatusRemoving})
	forgotten := newRecord(msg{sender: "0xA", time: 3, contentType: "t", salt: "f"})
	pending := newRecord(msg{sender: "0xA", time: 4, contentType: "t", salt: "pe"})
	rejected := sha("rej")
	insert(t, s, processed, removing, forgotten)
	update(t, s, func(tx store.Tx) error {
		if err := tx.Forget(forgotten.ItemHash, sha("forget"), 10); err != nil {
			return err
		}
		return tx.Reject(&store.Rejected{ItemHash: rejected, Message: json.RawMessage(`{}`), ErrorCode: 5, ReceptionTime: 7})
	})
	noErr(t, s.AddPending(ctx, []*store.Pending{pendingOf(pending, "sig", 8)}))
	for hash, want := range map[string]store.Status{
		processed.ItemHash: store.StatusProcessed,
		removing.ItemHash:  store.StatusRemoving,
		forgotten.ItemHash: store.StatusForgotten,
		pending.ItemHash:   store.StatusPending,
		rejected:           store.StatusRejected,
	} {
		st := get(s.Status(ctx, hash)).must(t)
		if st.Status != want || st.ItemHash != hash {
			t.Errorf("Status(%s) = %s, want %s", hash, st.Status, want)
			continue
		}
		ok := map[store.Status]bool{
			store.StatusProcessed: st.Record != nil, store.StatusRemoving: st.Record != nil,
			store.StatusForgotten: st.Forgotten != nil, store.StatusPending: len(st.Pending) > 0,
			store.StatusRejected: st.Rejected != nil,
		}[want]
		if !ok {
			t.Errorf("Status(%s) %s without its rows: %+v", hash, want, st)
		}
	}
	// Message and Forgotten only answer for their own states.
	_, err = s.Message(ctx, forgotten.ItemHash)
	wantNotFound(t, "Message of a forgotten hash", err)
	_, err = s.Message(ctx, pending.ItemHash)
	wantNotFound(t, "Message of a pending hash", err)
	_, err = s.Forgotten(ctx, processed.ItemHash)
	wantNotFound(t, "Forgotten of a processed hash", err)
}

func testForget(t *testing.T, s store.Store) {
	r := newRecord(msg{typ: message.TypeStore, sender: "0xS", owner: "0xO", time: 100.5, channel: "CH", fileHash: "ff", salt: "x"})
	noPayment := newRecord(msg{sender: "0xS", time: 50, contentType: "t", salt: "y"})
	insert(t, s, r, noPayment)
	f1, f2 := sha("forget1"), sha("forget2")
	update(t, s, func(tx store.Tx) error {
		if err := tx.Forget(r.ItemHash, f1, 200); err != nil {
			return err
		}
		return tx.Forget(noPayment.ItemHash, f1, 200)
	})
	_, err := s.Message(ctx, r.ItemHash)
	wantNotFound(t, "Message after Forget", err)
	fg := get(s.Forgotten(ctx, r.ItemHash)).must(t)
	want := store.Forgotten{
		ItemHash: r.ItemHash, Type: r.Type, Chain: r.Chain, Sender: r.Sender, Signature: r.Signature, ItemType: r.ItemType,
		Time: r.Time, Channel: r.Channel, Owner: r.Owner, PaymentType: "hold", Size: r.Size, ForgottenAt: 200,
		ForgottenBy: []string{f1}, ReceptionTime: r.ReceptionTime,
	}
	if !reflect.DeepEqual(*fg, want) {
		t.Errorf("forgotten skeleton:\n got %+v\nwant %+v", *fg, want)
	}
	if fg := get(s.Forgotten(ctx, noPayment.ItemHash)).must(t); fg.PaymentType != "hold" {
		t.Errorf("payment type of a forgotten message without payment = %q, want hold", fg.PaymentType)
	}
	st := get(s.Status(ctx, r.ItemHash)).must(t)
	if st.Status != store.StatusForgotten || st.Forgotten == nil || st.ReceptionTime != r.ReceptionTime {
		t.Errorf("status after Forget: %+v", st)
	}
	// A second FORGET is appended.
	update(t, s, func(tx store.Tx) error { return tx.Forget(r.ItemHash, f2, 300) })
	fg = get(s.Forgotten(ctx, r.ItemHash)).must(t)
	if !reflect.DeepEqual(fg.ForgottenBy, []string{f1, f2}) || fg.ForgottenAt != 200 {
		t.Errorf("after a second Forget: by %v at %v, want [%s %s] at 200", fg.ForgottenBy, fg.ForgottenAt, f1, f2)
	}
	if c := get(s.Counts(ctx)).must(t); c.Messages != 0 {
		t.Errorf("Counts.Messages = %d after forgetting everything", c.Messages)
	}
	if p := get(s.ListMessages(ctx, store.MessageFilter{Pagination: 20, Page: 1})).must(t); len(p.Records) != 0 || p.Total != 0 {
		t.Errorf("forgotten messages still listed: %v total %d", hashes(p.Records), p.Total)
	}
	err = s.Update(ctx, func(tx store.Tx) error { return tx.Forget(sha("never stored"), f1, 1) })
	if err == nil {
		t.Errorf("Forget of an unknown hash succeeded")
	}
}

func testPosts(t *testing.T, s store.Store) {
	orig := &store.Post{ItemHash: sha("orig"), Owner: "0xA", Type: "blog", Ref: "topic", Channel: "CH",
		Content: json.RawMessage(`{"title":"one"}`), CreationTime: 100}
	a1 := &store.Post{ItemHash: sha("a1"), Owner: "0xA", Type: "amend", Ref: orig.ItemHash, Amends: orig.ItemHash,
		Content: json.RawMessage(`{"title":"two"}`), CreationTime: 300}
	a2 := &store.Post{ItemHash: sha("a2"), Owner: "0xA", Type: "amend", Ref: orig.ItemHash, Amends: orig.ItemHash,
		Content: json.RawMessage(`{"title":"three"}`), CreationTime: 200}
	update(t, s, func(tx store.Tx) error {
		for _, p := range []*store.Post{orig, a1, a2} {
			if err := tx.InsertPost(p); err != nil {
				return err
			}
		}
		if err := tx.SetLatestAmend(orig.ItemHash, a1.ItemHash); err != nil {
			return err
		}
		got, err := tx.Post(orig.ItemHash)
		if err != nil {
			return err
		}
		want := *orig
		want.LatestAmend = a1.ItemHash
		if !postEqual(got, &want) {
			t.Errorf("Post: got %+v, want %+v", *got, want)
		}
		amends, err := tx.Amends(orig.ItemHash)
		if err != nil {
			return err
		}
		if len(amends) != 2 || amends[0].ItemHash != a2.ItemHash || amends[1].ItemHash != a1.ItemHash {
			t.Errorf("Amends not ordered by creation time: %+v", amends)
		}
		if !postEqual(&amends[1], a1) {
			t.Errorf("amend: got %+v, want %+v", amends[1], *a1)
		}
		if err := tx.DeletePost(a2.ItemHash); err != nil {
			return err
		}
		if _, err := tx.Post(a2.ItemHash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Post after DeletePost: %v", err)
		}
		if amends, _ := tx.Amends(orig.ItemHash); len(amends) != 1 {
			t.Errorf("Amends after DeletePost: %+v", amends)
		}
		if err := tx.SetLatestAmend(orig.ItemHash, ""); err != nil {
			return err
		}
		if got, _ := tx.Post(orig.ItemHash); got == nil || got.LatestAmend != "" {
			t.Errorf("latest amend not cleared: %+v", got)
		}
		return nil
	})
}

func postEqual(a, b *store.Post) bool {
	a2, b2 := *a, *b
	a2.Content, b2.Content = nil, nil
	return reflect.DeepEqual(a2, b2) && (len(a.Content) == 0 && len(b.Content) == 0 || jsonEqual(a.Content, b.Content))
}

func testAggregateElements(t *testing.T, s store.Store) {
	e1 := &store.AggregateElement{ItemHash: sha("e1"), Owner: "0xA", Key: "profile", Content: json.RawMessage(`{"a":1}`), CreationTime: 20}
	e2 := &store.AggregateElement{ItemHash: sha("e2"), Owner: "0xA", Key: "profile", Content: json.RawMessage(`{"b":2}`), CreationTime: 10}
	e3 := &store.AggregateElement{ItemHash: sha("e3"), Owner: "0xA", Key: "other", Content: json.RawMessage(`{}`), CreationTime: 5}
	update(t, s, func(tx store.Tx) error {
		for _, e := range []*store.AggregateElement{e1, e2, e3} {
			if err := tx.InsertAggregateElement(e); err != nil {
				return err
			}
		}
		els, err := tx.AggregateElements("0xA", "profile")
		if err != nil {
			return err
		}
		if len(els) != 2 || els[0].ItemHash != e2.ItemHash || els[1].ItemHash != e1.ItemHash {
			t.Errorf("elements not ordered by creation time: %+v", els)
		} else if !jsonEqual(els[1].Content, e1.Content) || els[1].Owner != "0xA" || els[1].Key != "profile" || els[1].CreationTime != 20 {
			t.Errorf("element: %+v", els[1])
		}
		if err := tx.DeleteAggregateElement(e2.ItemHash); err != nil {
			return err
		}
		els, _ = tx.AggregateElements("0xA", "profile")
		if len(els) != 1 || els[0].ItemHash != e1.ItemHash {
			t.Errorf("after delete: %+v", els)
		}
		return nil
	})
}

func testAggregates(t *testing.T, s store.Store) {
	profile := &store.Aggregate{Owner: "0xA", Key: "profile", Content: json.RawMessage(`{"a":1,"c":3}`), CreationTime: 10,
		LastRevisionHash: sha("rev"), LastRevisionTime: 20}
	security := &store.Aggregate{Owner: "0xA", Key: "security", Content: json.RawMessage(`{"authorizations":[{"address":"0xB"}]}`),
		CreationTime: 5, LastRevisionHash: sha("sec"), LastRevisionTime: 5}
	other := &store.Aggregate{Owner: "0xB", Key: "profile", Content: json.RawMessage(`{}`), CreationTime: 1, LastRevisionHash: sha("o"), LastRevisionTime: 1}
	update(t, s, func(tx store.Tx) error {
		for _, a := range []*store.Aggregate{profile, security, other} {
			if err := tx.PutAggregate(a); err != nil {
				return err
			}
		}
		return nil
	})
	all := get(s.Aggregates(ctx, "0xA", nil)).must(t)
	if len(all) != 2 {
		t.Fatalf("Aggregates(0xA): %+v", all)
	}
	byKey := map[string]store.Aggregate{}
	for _, a := range all {
		byKey[a.Key] = a
	}
	if got := byKey["profile"]; !jsonEqual(got.Content, profile.Content) || got.Owner != "0xA" || got.CreationTime != 10 ||
		got.LastRevisionHash != profile.LastRevisionHash || got.LastRevisionTime != 20 {
		t.Errorf("profile aggregate: %+v", got)
	}
	if got := get(s.Aggregates(ctx, "0xA", []string{"security", "missing"})).must(t); len(got) != 1 || got[0].Key != "security" {
		t.Errorf("Aggregates with keys: %+v", got)
	}
	if got := get(s.Aggregates(ctx, "0xNobody", nil)).must(t); len(got) != 0 {
		t.Errorf("Aggregates of an unknown owner: %+v", got)
	}
	sec := get(s.Security(ctx, "0xA")).must(t)
	if !jsonEqual(sec, security.Content) {
		t.Errorf("Security: %s", sec)
	}
	if sec := get(s.Security(ctx, "0xB")).must(t); sec != nil {
		t.Errorf("Security without a security aggregate: %s, want nil", sec)
	}
	// Replace, then delete with nil content.
	profile2 := *profile
	profile2.Content, profile2.LastRevisionTime = json.RawMessage(`{"a":2}`), 30
	update(t, s, func(tx store.Tx) error {
		if err := tx.PutAggregate(&profile2); err != nil {
			return err
		}
		return tx.PutAggregate(&store.Aggregate{Owner: "0xA", Key: "security"})
	})
	got := get(s.Aggregates(ctx, "0xA", nil)).must(t)
	if len(got) != 1 || !jsonEqual(got[0].Content, profile2.Content) || got[0].LastRevisionTime != 30 {
		t.Errorf("after replace and delete: %+v", got)
	}
	if sec := get(s.Security(ctx, "0xA")).must(t); sec != nil {
		t.Errorf("deleted security aggregate still read: %s", sec)
	}
}

func testFilesAndPins(t *testing.T, s store.Store) {
	f := &store.File{Hash: "aa", Size: 10, Type: "file"}
	storeMsg, other := sha("store1"), sha("store2")
	update(t, s, func(tx store.Tx) error {
		if err := tx.UpsertFile(f); err != nil {
			return err
		}
		if err := tx.UpsertFile(&store.File{Hash: "bb", Size: 3, Type: "file"}); err != nil {
			return err
		}
		if err := tx.AddPin(&store.Pin{FileHash: "aa", Type: store.PinMessage, Owner: "0xA", ItemHash: storeMsg, Ref: "doc", Created: 100}); err != nil {
			return err
		}
		if err := tx.AddPin(&store.Pin{FileHash: "aa", Type: store.PinMessage, Owner: "0xA", ItemHash: other, Ref: "doc", Created: 200}); err != nil {
			return err
		}
		if err := tx.UpsertTag(&store.FileTag{Tag: "0xA/doc", Owner: "0xA", FileHash: "aa", LastUpdated: 200}); err != nil {
			return err
		}
		return tx.AddPin(&store.Pin{FileHash: "bb", Type: store.PinContent, Owner: "0xB", ItemHash: sha("content"), Created: 50})
	})
	got := get(s.File(ctx, "aa")).must(t)
	if *got != *f {
		t.Errorf("File: %+v, want %+v", *got, *f)
	}
	_, err := s.File(ctx, "zz")
	wantNotFound(t, "unknown file", err)
	if n := get(s.PinCount(ctx, "aa")).must(t); n != 2 {
		t.Errorf("PinCount = %d, want 2", n)
	}
	if n := get(s.PinCount(ctx, "zz")).must(t); n != 0 {
		t.Errorf("PinCount of an unknown file = %d", n)
	}
	pin := get(s.FileByMessage(ctx, storeMsg)).must(t)
	if want := (store.Pin{FileHash: "aa", Type: store.PinMessage, Owner: "0xA", ItemHash: storeMsg, Ref: "doc", Created: 100}); *pin != want {
		t.Errorf("FileByMessage: %+v, want %+v", *pin, want)
	}
	_, err = s.FileByMessage(ctx, sha("content"))
	wantNotFound(t, "FileByMessage of a content pin", err)
	for _, owner := range []string{"0xA", ""} {
		pin := get(s.FileByRef(ctx, owner, "doc")).must(t)
		if pin.FileHash != "aa" || pin.ItemHash != other {
			t.Errorf("FileByRef(%q, doc) = %+v, want the latest pin %s", owner, *pin, other)
		}
	}
	_, err = s.FileByRef(ctx, "0xB", "doc")
	wantNotFound(t, "FileByRef of another owner", err)
	_, err = s.FileByRef(ctx, "", "nope")
	wantNotFound(t, "FileByRef of an unknown ref", err)
	// Size is updated by a second upsert.
	update(t, s, func(tx store.Tx) error { return tx.UpsertFile(&store.File{Hash: "aa", Size: 11, Type: "file"}) })
	if got := get(s.File(ctx, "aa")).must(t); got.Size != 11 {
		t.Errorf("size after upsert = %d", got.Size)
	}
	if got := get(s.Unpinned(ctx, 1000, 10)).must(t); len(got) != 0 {
		t.Errorf("pinned files reported unpinned: %+v", got)
	}
	update(t, s, func(tx store.Tx) error {
		if err := tx.DeletePins(storeMsg); err != nil {
			return err
		}
		return tx.DeletePins(other)
	})
	if n := get(s.PinCount(ctx, "aa")).must(t); n != 0 {
		t.Errorf("PinCount after DeletePins = %d", n)
	}
	un := get(s.Unpinned(ctx, 1000, 10)).must(t)
	if len(un) != 1 || un[0].Hash != "aa" || un[0].Size != 11 {
		t.Errorf("Unpinned: %+v", un)
	}
	if c := get(s.Counts(ctx)).must(t); c.Files != 2 {
		t.Errorf("Counts.Files = %d, want 2", c.Files)
	}
	update(t, s, func(tx store.Tx) error { return tx.DeleteFile("aa") })
	_, err = s.File(ctx, "aa")
	wantNotFound(t, "File after DeleteFile", err)
	if c := get(s.Counts(ctx)).must(t); c.Files != 1 {
		t.Errorf("Counts.Files = %d after DeleteFile, want 1", c.Files)
	}
}

func testAddressFiles(t *testing.T, s store.Store) {
	m1, m2, m3, other := sha("af1"), sha("af2"), sha("af3"), sha("af-other")
	update(t, s, func(tx store.Tx) error {
		for _, f := range []store.File{{Hash: "aa", Size: 10, Type: "file"}, {Hash: "bb", Size: 5, Type: "file"}, {Hash: "cc", Size: 7, Type: "file"}} {
			if err := tx.UpsertFile(&f); err != nil {
				return err
			}
		}
		for _, p := range []store.Pin{
			{FileHash: "aa", Type: store.PinMessage, Owner: "0xA", ItemHash: m1, Created: 100},
			{FileHash: "bb", Type: store.PinMessage, Owner: "0xA", ItemHash: m2, Created: 300},
			{FileHash: "aa", Type: store.PinMessage, Owner: "0xA", ItemHash: m3, Created: 200},
			{FileHash: "cc", Type: store.PinMessage, Owner: "0xB", ItemHash: other, Created: 150},
			{FileHash: "cc", Type: store.PinContent, Owner: "0xA", ItemHash: sha("af-content"), Created: 400},
			{FileHash: "cc", Type: store.PinGracePeriod, Created: 500, DeleteBy: 900},
		} {
			if err := tx.AddPin(&p); err != nil {
				return err
			}
		}
		return nil
	})
	files, total, size, err := s.AddressFiles(ctx, "0xA", 100, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.AddressFile{
		{FileHash: "bb", Size: 5, Type: "file", Created: 300, ItemHash: m2},
		{FileHash: "aa", Size: 10, Type: "file", Created: 200, ItemHash: m3},
		{FileHash: "aa", Size: 10, Type: "file", Created: 100, ItemHash: m1},
	}
	if total != 3 || size != 25 || !reflect.DeepEqual(files, want) {
		t.Errorf("AddressFiles(0xA) = %+v, %d, %d; want %+v, 3, 25", files, total, size, want)
	}
	files, total, _, err = s.AddressFiles(ctx, "0xA", 2, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	if total != 3 || len(files) != 1 || files[0].ItemHash != m1 {
		t.Errorf("AddressFiles(0xA, page 2 of 2) = %+v, %d", files, total)
	}
	files, _, _, err = s.AddressFiles(ctx, "0xA", 2, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].ItemHash != m1 || files[1].ItemHash != m3 {
		t.Errorf("AddressFiles(0xA, ascending) = %+v", files)
	}
	files, total, size, err = s.AddressFiles(ctx, "0xNone", 100, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if files == nil || len(files) != 0 || total != 0 || size != 0 {
		t.Errorf("AddressFiles of an address without files = %#v, %d, %d; want an empty list", files, total, size)
	}
}

func testGracePins(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		for _, h := range []string{"g1", "g2", "g3"} {
			if err := tx.UpsertFile(&store.File{Hash: h, Size: 1, Type: "file"}); err != nil {
				return err
			}
		}
		if err := tx.AddPin(&store.Pin{FileHash: "g1", Type: store.PinGracePeriod, Created: 0, DeleteBy: 100}); err != nil {
			return err
		}
		if err := tx.AddPin(&store.Pin{FileHash: "g2", Type: store.PinGracePeriod, Created: 0, DeleteBy: 200}); err != nil {
			return err
		}
		// g3 has an expired grace pin and a message pin: still pinned.
		if err := tx.AddPin(&store.Pin{FileHash: "g3", Type: store.PinGracePeriod, Created: 0, DeleteBy: 50}); err != nil {
			return err
		}
		return tx.AddPin(&store.Pin{FileHash: "g3", Type: store.PinMessage, Owner: "0xA", ItemHash: sha("m"), Created: 1})
	})
	if got := get(s.Unpinned(ctx, 99, 10)).must(t); len(got) != 0 {
		t.Errorf("Unpinned before any grace expiry: %+v", got)
	}
	got := get(s.Unpinned(ctx, 150, 10)).must(t)
	if len(got) != 1 || got[0].Hash != "g1" {
		t.Errorf("Unpinned(150) = %+v, want g1", got)
	}
	if got := get(s.Unpinned(ctx, 1000, 1)).must(t); len(got) != 1 {
		t.Errorf("Unpinned limit 1 gave %d files", len(got))
	}
	var n int
	update(t, s, func(tx store.Tx) (err error) { n, err = tx.DeleteExpiredGrace(150); return err })
	if n != 2 {
		t.Errorf("DeleteExpiredGrace(150) = %d, want 2 (g1 and g3's grace pins)", n)
	}
	if c := get(s.PinCount(ctx, "g2")).must(t); c != 1 {
		t.Errorf("unexpired grace pin removed: %d pins", c)
	}
	if c := get(s.PinCount(ctx, "g3")).must(t); c != 1 {
		t.Errorf("g3 pins = %d, want its message pin", c)
	}
}

func testFileTags(t *testing.T, s store.Store) {
	update(t, s, func(tx store.Tx) error {
		if err := tx.UpsertTag(&store.FileTag{Tag: "0xA/x", Owner: "0xA", FileHash: "f1", LastUpdated: 100}); err != nil {
			return err
		}
		// An older update does not replace a newer one.
		if err := tx.UpsertTag(&store.FileTag{Tag: "0xA/x", Owner: "0xA", FileHash: "f0", LastUpdated: 50}); err != nil {
			return err
		}
		got, err := tx.Tag("0xA/x")
		if err != nil {
			return err
		}
		if want := (store.FileTag{Tag: "0xA/x", Owner: "0xA", FileHash: "f1", LastUpdated: 100}); *got != want {
			t.Errorf("Tag = %+v, want %+v", *got, want)
		}
		if err := tx.UpsertTag(&store.FileTag{Tag: "0xA/x", Owner: "0xA", FileHash: "f2", LastUpdated: 150}); err != nil {
			return err
		}
		if got, _ := tx.Tag("0xA/x"); got == nil || got.FileHash != "f2" || got.LastUpdated != 150 {
			t.Errorf("newer tag update not applied: %+v", got)
		}
		if _, err := tx.Tag("0xA/none"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown tag: %v", err)
		}
		return nil
	})
}

func testVMs(t *testing.T, s store.Store) {
	vm := &store.VM{ItemHash: sha("vm1"), Owner: "0xA", Type: message.TypeInstance, AllowAmend: true, PaymentType: "credit",
		Volumes: []string{"rootfs", "data"}}
	vm2 := &store.VM{ItemHash: sha("vm2"), Owner: "0xA", Type: message.TypeProgram, Replaces: vm.ItemHash, Volumes: []string{"data"}}
	update(t, s, func(tx store.Tx) error {
		if err := tx.InsertVM(vm); err != nil {
			return err
		}
		if err := tx.InsertVM(vm2); err != nil {
			return err
		}
		got, err := tx.VM(vm.ItemHash)
		if err != nil {
			return err
		}
		if got.ItemHash != vm.ItemHash || got.Owner != "0xA" || got.Type != message.TypeInstance || !got.AllowAmend ||
			got.PaymentType != "credit" || got.Replaces != "" || !sameSet(got.Volumes, vm.Volumes) {
			t.Errorf("VM = %+v, want %+v", *got, *vm)
		}
		if got, _ := tx.VM(vm2.ItemHash); got == nil || got.Replaces != vm.ItemHash || got.AllowAmend {
			t.Errorf("VM2 = %+v", got)
		}
		users, err := tx.VolumeUsers("data")
		if err != nil {
			return err
		}
		if !sameSet(users, []string{vm.ItemHash, vm2.ItemHash}) {
			t.Errorf("VolumeUsers(data) = %v", users)
		}
		if err := tx.DeleteVM(vm.ItemHash); err != nil {
			return err
		}
		if _, err := tx.VM(vm.ItemHash); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("VM after DeleteVM: %v", err)
		}
		users, _ = tx.VolumeUsers("data")
		if !sameSet(users, []string{vm2.ItemHash}) {
			t.Errorf("VolumeUsers after DeleteVM = %v", users)
		}
		if users, _ := tx.VolumeUsers("rootfs"); len(users) != 0 {
			t.Errorf("VolumeUsers(rootfs) after DeleteVM = %v", users)
		}
		return nil
	})
}

func testCounts(t *testing.T, s store.Store) {
	if c := get(s.Counts(ctx)).must(t); c != (store.Counts{}) {
		t.Errorf("counts of an empty store: %+v", c)
	}
	var recs []*store.Record
	for i := range 3 {
		recs = append(recs, newRecord(msg{sender: "0xA", time: float64(i), contentType: "t", salt: string(rune('a' + i))}))
	}
	insert(t, s, recs...)
	noErr(t, s.AddPending(ctx, []*store.Pending{pendingOf(newRecord(msg{sender: "0xP", time: 1, contentType: "t"}), "s", 1)}))
	update(t, s, func(tx store.Tx) error { return tx.UpsertFile(&store.File{Hash: "f", Size: 1, Type: "file"}) })
	if c := get(s.Counts(ctx)).must(t); c != (store.Counts{Messages: 3, Pending: 1, Files: 1}) {
		t.Errorf("counts: %+v", c)
	}
	update(t, s, func(tx store.Tx) error { return tx.Forget(recs[0].ItemHash, "f", 10) })
	if c := get(s.Counts(ctx)).must(t); c != (store.Counts{Messages: 2, Pending: 1, Files: 1, Forgotten: 1}) {
		t.Errorf("counts after a forget: %+v", c)
	}
}
