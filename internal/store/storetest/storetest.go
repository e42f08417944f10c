// Package storetest is the conformance suite of the store.Store contract.
// Every backend runs it from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
//	}
//
// The suite checks behaviour through the interface only (no SQL), so that a
// later backend can be held to exactly what the pipeline and the API rely
// on.
package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// Run runs the whole suite. open must return a new, empty store; the suite
// closes it.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"AddPending", testAddPending},
		{"InsertPending", testInsertPending},
		{"Seen", testSeen},
		{"ListPending", testListPending},
		{"UpdateRollback", testUpdateRollback},
		{"TxReadsOwnWrites", testTxReadsOwnWrites},
		{"InsertMessage", testInsertMessage},
		{"InsertMessageConflict", testInsertMessageConflict},
		{"PendingLifecycle", testPendingLifecycle},
		{"Reject", testReject},
		{"PruneRejected", testPruneRejected},
		{"StatusStates", testStatusStates},
		{"Forget", testForget},
		{"Posts", testPosts},
		{"AggregateElements", testAggregateElements},
		{"Aggregates", testAggregates},
		{"FilesAndPins", testFilesAndPins},
		{"AddressFiles", testAddressFiles},
		{"GracePins", testGracePins},
		{"FileTags", testFileTags},
		{"VMs", testVMs},
		{"ListMessagesFilters", testListMessagesFilters},
		{"ListMessagesOrder", testListMessagesOrder},
		{"ListMessagesPagination", testListMessagesPagination},
		{"ListMessagesCursor", testListMessagesCursor},
		{"ListMessagesStatuses", testListMessagesStatuses},
		{"ListPosts", testListPosts},
		{"ListPostsPagination", testListPostsPagination},
		{"ListAggregates", testListAggregates},
		{"AddressStats", testAddressStats},
		{"Channels", testChannels},
		{"Counts", testCounts},
		{"Hashes", testHashes},
		{"InsertForgotten", testInsertForgotten},
		{"ChainSync", testChainSync},
		{"Confirmations", testConfirmations},
		{"Packer", testPacker},
		{"ListMessagesByBlock", testListMessagesByBlock},
		{"ListMessagesTxTime", testListMessagesTxTime},
		{"ArchiveRetries", testArchiveRetries},
		{"Balances", testBalances},
		{"BalanceHistory", testBalanceHistory},
		{"Costs", testCosts},
		{"CostTotals", testCostTotals},
		{"CreditEntries", testCreditEntries},
		{"CreditsConsumed", testCreditsConsumed},
		{"TokenSync", testTokenSync},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

var ctx = context.Background()

// sha returns the inline item hash of content.
func sha(content string) string {
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

// msg is a description of a processed message for newRecord.
type msg struct {
	typ         message.Type
	sender      string
	owner       string // defaults to sender
	chain       string // defaults to ETH
	channel     string
	time        float64
	contentType string // POST type
	ref         string
	key         string // AGGREGATE key
	fileHash    string // STORE content.item_hash
	payment     string
	tags        []string // content.content.tags
	status      store.Status
	nonInline   bool // store the content as a fetched (storage) item
	salt        string
}

// newRecord builds a consistent processed record: its content is a JSON
// object with the fields the filters read, and its hash is the sha256 of
// that content.
func newRecord(m msg) *store.Record {
	if m.typ == "" {
		m.typ = message.TypePost
	}
	if m.owner == "" {
		m.owner = m.sender
	}
	if m.chain == "" {
		m.chain = "ETH"
	}
	c := map[string]any{"address": m.owner, "time": m.time}
	inner := map[string]any{"salt": m.salt}
	if m.tags != nil {
		inner["tags"] = m.tags
	}
	switch m.typ {
	case message.TypePost:
		c["type"] = m.contentType
		c["content"] = inner
		if m.ref != "" {
			c["ref"] = m.ref
		}
	case message.TypeAggregate:
		c["key"] = m.key
		c["content"] = inner
	case message.TypeStore:
		c["item_type"] = "storage"
		c["item_hash"] = m.fileHash
		if m.ref != "" {
			c["ref"] = m.ref
		}
		c["content"] = inner
	default:
		c["content"] = inner
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	content := string(b)
	r := &store.Record{
		Message: message.Message{
			Sender: m.sender, Chain: m.chain, Signature: "sig-" + m.sender, Type: m.typ, ItemType: message.ItemInline,
			ItemContent: content, ItemHash: sha(content), Time: m.time, Channel: m.channel,
		},
		Content:       json.RawMessage(content),
		Size:          int64(len(content)),
		Status:        m.status,
		ReceptionTime: m.time + 1,
		Owner:         m.owner,
		PaymentType:   m.payment,
	}
	if r.Status == "" {
		r.Status = store.StatusProcessed
	}
	if m.nonInline {
		r.ItemType, r.ItemContent = message.ItemStorage, ""
	}
	switch m.typ {
	case message.TypePost:
		r.ContentType, r.ContentRef = m.contentType, m.ref
	case message.TypeAggregate:
		r.ContentKey = m.key
	case message.TypeStore:
		r.ContentRef, r.ContentItemHash = m.ref, m.fileHash
	}
	return r
}

// update runs fn in a transaction and fails the test on error.
func update(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

// insert stores records as processed messages.
func insert(t *testing.T, s store.Store, recs ...*store.Record) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		for _, r := range recs {
			ok, err := tx.InsertMessage(r)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%s was not inserted", r.ItemHash)
			}
		}
		return nil
	})
}

// result carries the two results of a call to must(t).
type result[T any] struct {
	v   T
	err error
}

// get wraps a call's results: get(s.Message(ctx, h)).must(t).
func get[T any](v T, err error) result[T] { return result[T]{v, err} }

// must returns the value, failing the test on error.
func (r result[T]) must(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: got %v, want store.ErrNotFound", what, err)
	}
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// checkRecord compares the fields of a record read back with the one stored.
func checkRecord(t *testing.T, got *store.Record, want *store.Record) {
	t.Helper()
	if got.Message != want.Message {
		t.Errorf("message: got %+v, want %+v", got.Message, want.Message)
	}
	if !jsonEqual(got.Content, want.Content) {
		t.Errorf("content: got %s, want %s", got.Content, want.Content)
	}
	if got.Size != want.Size || got.Status != want.Status || got.ReceptionTime != want.ReceptionTime ||
		got.Owner != want.Owner || got.ContentType != want.ContentType || got.ContentRef != want.ContentRef ||
		got.ContentKey != want.ContentKey || got.ContentItemHash != want.ContentItemHash || got.PaymentType != want.PaymentType {
		t.Errorf("record: got %+v, want %+v", *got, *want)
	}
}

func hashes(recs []store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ItemHash
	}
	return out
}

func recHashes(recs ...*store.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ItemHash
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}

func strp(s string) *string { return &s }
