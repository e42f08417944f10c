// Package store defines the persistence contract of the core node and the
// list cursor format. Backends (store/sqlite, the default, and
// store/postgres, chosen by database URL through store/storeurl) implement Store;
// store/storetest is the conformance suite every backend must pass.
//
// Ownership: the node's pipeline is the only writer, through Update (new
// messages become pending rows there too, when they must wait); the HTTP API
// only reads.
package store

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/goaleph/goaleph/message"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// ErrBadCursor is returned by list queries given a malformed cursor.
var ErrBadCursor = errors.New("invalid cursor")

// ErrUnavailable is wrapped by errors meaning the database cannot be reached
// (server down or restarting, connection refused or lost): the call did not
// take effect, except that a connection lost during COMMIT leaves the
// outcome unknown, so callers retry idempotently once it is back.
var ErrUnavailable = errors.New("database unavailable")

// Status of a message hash on this node.
type Status string

// Message statuses (spec §5.5).
const (
	StatusPending   Status = "pending"
	StatusProcessed Status = "processed"
	StatusRejected  Status = "rejected"
	StatusForgotten Status = "forgotten"
	StatusRemoving  Status = "removing"
	StatusRemoved   Status = "removed"
)

// Pending is a message accepted by ingestion and not yet processed.
type Pending struct {
	ID            int64 // assigned by AddPending
	Message       *message.Message
	ReceptionTime float64 // unix seconds
	Retries       int
	NextAttempt   float64 // unix seconds
	Origin        string  // "http", "p2p", "chain", …
}

// OriginSmartContract is the origin of the synthetic messages a node makes
// of smart-contract events (spec core-node §7.2). They carry no signature:
// the chain authenticated their sender, so the pipeline verifies none.
// Only the node's own chain reader submits with it.
const OriginSmartContract = "smart-contract"

// Record is a processed (or removing) message with its content.
type Record struct {
	message.Message
	// Content is the content object as served: for inline items the
	// item_content text itself, else the fetched (and coerced) content.
	Content         json.RawMessage
	Size            int64
	Status          Status
	ReceptionTime   float64
	Owner           string // content.address
	ContentType     string // POST content.type
	ContentRef      string // POST/STORE content.ref
	ContentKey      string // AGGREGATE content.key
	ContentItemHash string // STORE content.item_hash
	PaymentType     string
	// Confirmations are the chain transactions carrying the message. The
	// store's queries leave them nil; readers that serve them fill them
	// with Reader.Confirmations.
	Confirmations []Confirmation
}

// Rejected is a message the node refused after ingestion.
type Rejected struct {
	ItemHash      string
	Message       json.RawMessage // the envelope as received
	ErrorCode     message.Code
	Details       json.RawMessage // null when none
	ReceptionTime float64
}

// Forgotten is the skeleton kept for a forgotten message.
type Forgotten struct {
	ItemHash      string
	Type          message.Type
	Chain         string
	Sender        string
	Signature     string
	ItemType      message.ItemType
	Time          float64
	Channel       string
	Owner         string
	PaymentType   string
	Size          int64
	ForgottenAt   float64
	ForgottenBy   []string
	ReceptionTime float64
}

// MessageStatus is the status of one hash with the rows that describe it.
type MessageStatus struct {
	Status        Status
	ItemHash      string
	ReceptionTime float64
	Record        *Record    // processed / removing
	Pending       []Pending  // pending
	Rejected      *Rejected  // rejected
	Forgotten     *Forgotten // forgotten
}

// Post is a row of the posts projection (originals and amends alike).
type Post struct {
	ItemHash     string
	Owner        string
	Type         string // content.type ("amend" for amends)
	Ref          string
	Amends       string // original hash, for amends
	Channel      string
	Content      json.RawMessage // content.content
	CreationTime float64         // content.time
	LatestAmend  string          // originals: hash of the latest amend
}

// AggregateElement is one AGGREGATE message's contribution.
type AggregateElement struct {
	ItemHash     string
	Owner        string
	Key          string
	Content      json.RawMessage
	CreationTime float64
}

// Aggregate is the merged value of (owner, key).
type Aggregate struct {
	Owner            string
	Key              string
	Content          json.RawMessage
	CreationTime     float64
	LastRevisionHash string
	LastRevisionTime float64
}

// PinType tells why a file is kept.
type PinType string

// Pin types.
const (
	PinMessage     PinType = "message"      // STORE message
	PinContent     PinType = "content"      // content file of a non-inline message
	PinGracePeriod PinType = "grace_period" // unauthenticated upload or last pin forgotten
	PinTx          PinType = "tx"           // archive of messages anchored on a chain
)

// Pin keeps a file from garbage collection.
type Pin struct {
	FileHash string
	Type     PinType
	Owner    string
	ItemHash string  // the pinning message, if any
	Ref      string  // STORE ref
	Created  float64 // unix seconds
	DeleteBy float64 // grace pins: expiry
}

// File is a stored file known to the node.
type File struct {
	Hash string
	Size int64
	Type string // "file"
}

// AddressFile is a file pinned by one of an address's STORE messages.
type AddressFile struct {
	FileHash string
	Size     int64
	Type     string  // the file's type: "file"
	Created  float64 // unix seconds of the pin
	ItemHash string  // the STORE message
}

// FileTag maps "{owner}/{ref}" to the file of the latest STORE for it.
type FileTag struct {
	Tag         string
	Owner       string
	FileHash    string
	LastUpdated float64
}

// VM is a PROGRAM or INSTANCE row.
type VM struct {
	ItemHash    string
	Owner       string
	Type        message.Type
	AllowAmend  bool
	Replaces    string
	PaymentType string
	Volumes     []string // hashes of referenced files/messages (code, runtime, data, volumes, rootfs parent)
}

// Store is a core node database. Implementations are safe for concurrent
// use; Update calls are serialised by the caller (the node has one writer).
type Store interface {
	// AddPending durably inserts pending messages in one transaction.
	// Copies already pending with the same (item_hash, sender, signature)
	// are skipped; their ID is left 0.
	AddPending(ctx context.Context, ps []*Pending) error
	// ListPending returns pending messages with ID > afterID, by ID.
	ListPending(ctx context.Context, afterID int64, limit int) ([]Pending, error)

	// Update runs fn in one write transaction, committed when fn returns nil.
	Update(ctx context.Context, fn func(Tx) error) error

	// Hashes calls fn with the time and item hash of every processed (or
	// removing) and forgotten message, in no particular order: the set
	// that nodes reconcile with each other (p2p sync). It stops at fn's
	// first error and returns it.
	Hashes(ctx context.Context, fn func(time float64, hash string) error) error

	Reader
	Close() error
}

// Reader holds the read queries used by the pipeline and the API.
type Reader interface {
	// Status returns the status of a hash; ErrNotFound when unknown.
	Status(ctx context.Context, hash string) (*MessageStatus, error)
	// Message returns a processed/removing message; ErrNotFound otherwise.
	Message(ctx context.Context, hash string) (*Record, error)
	// Forgotten returns the skeleton of a forgotten message; ErrNotFound otherwise.
	Forgotten(ctx context.Context, hash string) (*Forgotten, error)
	ListMessages(ctx context.Context, f MessageFilter) (*MessagePage, error)
	ListPosts(ctx context.Context, f PostFilter) (*PostPage, error)
	// Aggregates returns the aggregates of owner, restricted to keys when given.
	Aggregates(ctx context.Context, owner string, keys []string) ([]Aggregate, error)
	ListAggregates(ctx context.Context, f AggregateFilter) (*AggregatePage, error)
	// Security returns the content of owner's "security" aggregate, or nil.
	Security(ctx context.Context, owner string) (json.RawMessage, error)
	File(ctx context.Context, hash string) (*File, error)
	// PinCount returns the number of pins on a file.
	PinCount(ctx context.Context, hash string) (int, error)
	// FileByRef resolves a STORE ref or tag to its file pin; owner may be empty.
	FileByRef(ctx context.Context, owner, ref string) (*Pin, error)
	// FileByMessage returns the pin a STORE message created.
	FileByMessage(ctx context.Context, itemHash string) (*Pin, error)
	AddressStats(ctx context.Context, addresses []string) (map[string]map[string]int, error)
	// AddressFiles returns a page (1-based, pagination per page) of the files
	// pinned by owner's STORE messages, newest first unless asc, with the
	// number of such pins and the sum of their files' sizes.
	AddressFiles(ctx context.Context, owner string, pagination, page int, asc bool) (files []AddressFile, total int, totalSize int64, err error)
	Channels(ctx context.Context) ([]string, error)
	// Unpinned returns files without any pin (after dropping grace pins expired at now).
	Unpinned(ctx context.Context, now float64, limit int) ([]File, error)
	Counts(ctx context.Context) (Counts, error)
	// ChainSync returns how far the reader of chain has read;
	// ErrNotFound when it has read nothing yet.
	ChainSync(ctx context.Context, chain string) (*ChainSync, error)
	// Confirmations returns the confirmations of the given messages, by
	// item hash, each list by chain, height and transaction hash. Hashes
	// without any are absent from the map.
	Confirmations(ctx context.Context, hashes []string) (map[string][]Confirmation, error)
	BalanceReader
	CreditReader
	// Unanchored returns up to limit processed messages that no chain
	// confirms and that are in no packer batch, oldest reception first
	// (then by item hash): what the packer anchors next.
	Unanchored(ctx context.Context, limit int) ([]Record, error)
	// OpenBatches returns the packer batches of chain not confirmed yet
	// (pending or sent), oldest first.
	OpenBatches(ctx context.Context, chain string) ([]Batch, error)
	// BatchItems returns the item hashes of a batch, sorted.
	BatchItems(ctx context.Context, id int64) ([]string, error)
	// ArchiveRetries returns the archives of chain waiting to be fetched
	// again, by height then log index.
	ArchiveRetries(ctx context.Context, chain string) ([]ArchiveRetry, error)
}

// BatchState is where a packer batch stands.
type BatchState string

// Packer batch states: a batch is recorded pending with its archive and
// messages; it becomes sent once its transaction is signed (recorded before
// it is broadcast, so that a restart sends that same transaction again
// rather than a second one), and confirmed once that transaction is mined
// deep enough.
const (
	BatchPending   BatchState = "pending"
	BatchSent      BatchState = "sent"
	BatchConfirmed BatchState = "confirmed"
)

// Batch is a set of messages the packer anchors on a chain with one
// transaction pointing at their archive file.
type Batch struct {
	ID      int64 // assigned by InsertBatch
	Chain   string
	Archive string // CID of the archive file
	Count   int    // number of messages
	State   BatchState
	TxHash  string // sent, confirmed
	Nonce   uint64 // sent, confirmed
	RawTx   string // sent: the signed transaction, hex, to broadcast again
	Height  uint64 // confirmed: block of the transaction
	GasUsed uint64 // confirmed
	Created float64
	Updated float64
}

// ArchiveRetry is an aleph-offchain event whose archive the chain reader
// could not fetch yet: it is fetched again after a back-off, also after a
// restart.
type ArchiveRetry struct {
	Chain    string
	TxHash   string
	LogIndex uint
	Height   uint64
	CID      string
	Event    string // the event, as the reader serialises it (JSON)
	Attempts int
}

// ChainSync is the progress of a chain reader: every block up to Height
// (whose hash was BlockHash, "" when not known) has been read.
type ChainSync struct {
	Chain     string
	Height    uint64
	BlockHash string
}

// Confirmation records that a chain transaction carries a message (spec
// core-node §7.2): the message is anchored on that chain.
type Confirmation struct {
	ItemHash  string
	Chain     string // the chain read, e.g. "ETH"
	TxHash    string
	Height    uint64
	BlockHash string
	Time      float64 // block time, unix seconds
}

// Counts are gauges for metrics.
type Counts struct {
	Messages  int64
	Pending   int64
	Files     int64
	Forgotten int64
}

// Tx is a write transaction of the processing pipeline.
type Tx interface {
	Reader
	BalanceWriter
	CreditWriter

	// Seen tells whether hash is already processed (with the signature of
	// the stored copy) or forgotten: one probe for the pipeline's
	// duplicate check.
	Seen(hash string) (Seen, error)
	// InsertMessage stores a processed message. On conflict the earlier
	// time is kept and false is returned.
	InsertMessage(r *Record) (inserted bool, err error)
	// InsertPending adds a pending message inside the transaction (sets
	// p.ID; leaves it 0 when the same copy is already pending).
	InsertPending(p *Pending) error
	DeletePending(ids ...int64) error
	// RetryPending records a failed attempt.
	RetryPending(id int64, retries int, nextAttempt float64) error
	// Reject stores a rejection (replacing an older one of the same hash).
	Reject(r *Rejected) error
	// PruneRejected deletes at most limit rejected records, oldest first
	// (by reception time, then item hash): those received before before
	// (unix seconds; 0 = none by age), and those beyond the newest keep
	// (keep < 0 = no cap on their number). It returns how many it deleted;
	// fewer than limit means none is left to prune. Only rejected records
	// go: a pending copy of the same hash, processed and forgotten
	// messages are untouched.
	PruneRejected(before float64, keep, limit int) (int, error)
	// Forget moves a processed message to the forgotten table, or appends
	// forgottenBy when it is already forgotten.
	Forget(hash string, forgottenBy string, at float64) error
	// InsertForgotten stores the skeleton of a message this node never
	// held, forgotten elsewhere (p2p sync brings it so that the FORGET
	// waiting for it can be processed). It does nothing and returns false
	// when the hash is already forgotten.
	InsertForgotten(f *Forgotten) (inserted bool, err error)

	InsertPost(p *Post) error
	Post(hash string) (*Post, error)
	// Amends returns the amends of an original post.
	Amends(original string) ([]Post, error)
	SetLatestAmend(original, amend string) error
	DeletePost(hash string) error

	InsertAggregateElement(e *AggregateElement) error
	AggregateElements(owner, key string) ([]AggregateElement, error)
	DeleteAggregateElement(hash string) error
	// PutAggregate stores the merged value; a nil Content deletes it.
	PutAggregate(a *Aggregate) error

	UpsertFile(f *File) error
	AddPin(p *Pin) error
	// DeletePins removes the pins created by a message.
	DeletePins(itemHash string) error
	// DeleteExpiredGrace removes grace pins with DeleteBy <= now.
	DeleteExpiredGrace(now float64) (int, error)
	DeleteFile(hash string) error
	UpsertTag(t *FileTag) error
	Tag(tag string) (*FileTag, error)

	// SetChainSync records the progress of a chain reader.
	SetChainSync(c *ChainSync) error
	// AddConfirmations records confirmations; one already recorded (same
	// item hash, chain and transaction) is left as it is.
	AddConfirmations(cs ...Confirmation) error
	// DeleteConfirmations removes the confirmations of chain in blocks at
	// or above height (blocks a reorganisation dropped) and returns how
	// many it removed.
	DeleteConfirmations(chain string, fromHeight uint64) (int, error)
	// InsertBatch records a packer batch holding items (sets b.ID). A
	// message belongs to one batch at most: an item already in a batch is
	// an error.
	InsertBatch(b *Batch, items []string) error
	// UpdateBatch stores the state and transaction fields of a batch.
	UpdateBatch(b *Batch) error
	// PutArchiveRetry records an archive to fetch again, or updates its
	// attempts (same chain, transaction and log index).
	PutArchiveRetry(r *ArchiveRetry) error
	// DeleteArchiveRetry forgets an archive to fetch again (done with:
	// fetched, or malformed); one not recorded is no error.
	DeleteArchiveRetry(chain, txHash string, logIndex uint) error

	InsertVM(v *VM) error
	VM(hash string) (*VM, error)
	DeleteVM(hash string) error
	// VolumeUsers returns VMs that use hash as a volume.
	VolumeUsers(hash string) ([]string, error)
}

// Seen is the answer of Tx.Seen.
type Seen struct {
	Processed bool   // in messages (processed or removing)
	Signature string // of the processed copy
	Forgotten bool
}

// MessageFilter selects messages for ListMessages. Empty lists match all.
type MessageFilter struct {
	Hashes        []string
	Addresses     []string // sender
	Owners        []string // content.address
	Refs          []string
	ContentHashes []string // STORE content.item_hash
	ContentKeys   []string
	ContentTypes  []string
	Chains        []string
	Channels      []string
	Types         []message.Type
	PaymentTypes  []string
	Tags          []string // any of content.content.tags
	// Statuses defaults to processed and removing. Forgotten alone lists
	// forgotten skeletons.
	Statuses  []Status
	StartDate float64 // inclusive, 0 = none
	EndDate   float64 // exclusive, 0 = none
	// StartBlock (inclusive) and EndBlock (exclusive) select messages by
	// the height of their first confirmation, on any chain; 0 = none.
	// Either leaves out unconfirmed messages.
	StartBlock uint64
	EndBlock   uint64
	SortAsc    bool // default newest first
	// SortTxTime sorts by the block time of each message's first
	// confirmation instead of message time (the reference's tx-time):
	// newest first with the unconfirmed first, or (SortAsc) oldest first
	// with the unconfirmed last; ties by time (same direction), then
	// item_hash. Not with Cursor.
	SortTxTime bool
	// Pagination is the page size; 0 means no limit (offset mode only).
	Pagination int
	Page       int // 1-based, offset mode
	// Cursor switches to cursor mode ("" = first page). Totals are not
	// computed in cursor mode.
	Cursor *string
}

// MessagePage is a page of messages.
type MessagePage struct {
	Records    []Record
	Forgotten  []Forgotten // when listing forgotten messages
	Total      int         // -1 in cursor mode
	NextCursor string      // cursor mode: "" when no more
}

// PostFilter selects original posts for ListPosts.
type PostFilter struct {
	Hashes     []string // original hashes
	Addresses  []string // owners
	Refs       []string
	Types      []string
	Channels   []string
	Tags       []string // any of the merged post content's tags
	StartDate  float64  // on last update
	EndDate    float64
	SortAsc    bool
	Pagination int
	Page       int
	Cursor     *string
}

// MergedPost is an original post merged with its latest amend.
type MergedPost struct {
	Original   Record  // the original message
	Post       Post    // the original's projection row
	Latest     *Record // latest amend message, nil when never amended
	LatestPost *Post
}

// PostPage is a page of merged posts.
type PostPage struct {
	Posts      []MergedPost
	Total      int
	NextCursor string
}

// AggregateFilter selects aggregates for ListAggregates.
type AggregateFilter struct {
	Keys       []string
	Addresses  []string
	SortBy     string // "last_modified" (default) or "creation_time"
	SortAsc    bool
	Pagination int
	Page       int
	Cursor     *string
}

// AggregatePage is a page of aggregates.
type AggregatePage struct {
	Aggregates []Aggregate
	Total      int
	NextCursor string
}

// TxTimeOrder is the ORDER BY list of MessageFilter.SortTxTime, given the
// SQL expression of the first confirmation's time (NULL: unconfirmed).
// SQLite (3.30+) and PostgreSQL both take NULLS FIRST/LAST.
func TxTimeOrder(firstConfirmed string, asc bool) string {
	if asc {
		return firstConfirmed + " ASC NULLS LAST, time ASC, item_hash ASC"
	}
	return firstConfirmed + " DESC NULLS FIRST, time DESC, item_hash ASC"
}
