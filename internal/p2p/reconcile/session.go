package reconcile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
)

// Defaults and limits of a session's configuration.
const (
	// DefaultBuckets is the number of ranges a differing range is split into.
	DefaultBuckets = 16
	// DefaultListThreshold is the size under which a range is sent as an id
	// list instead of being split.
	DefaultListThreshold = 2 * DefaultBuckets
	// DefaultMaxFrame bounds the size of one message, sent or received.
	DefaultMaxFrame = 1 << 20
	// MinFrame is the smallest allowed frame limit. It leaves room for the
	// largest range answer (an id diff with its indices) plus one entry, so
	// that every message makes progress.
	MinFrame = 16 << 10
	// MaxFrameLimit is the largest allowed frame limit.
	MaxFrameLimit = 16 << 20
	// DefaultMaxMessages bounds the messages (sent plus received) of a
	// session. A difference of 1M items between two sides takes about 80
	// messages at the default frame size; a difference of 100 takes 6.
	DefaultMaxMessages = 512
	// DefaultMaxNeed bounds the number of items a session accepts as
	// missing locally, which bounds the memory a lying peer can make it use.
	// A node further behind syncs again after fetching what it learnt.
	DefaultMaxNeed = 1 << 21
)

// Bounds of the options. With them, the largest split (64 fingerprints, or
// an id list of 63 entries of maxEntryLen bytes) fits in a MinFrame message,
// so a message always makes progress.
const (
	maxBuckets       = 64
	maxListThreshold = 64
)

// stopReserve is the room kept at the end of a message for closing it: a
// skip range and a fingerprint to infinity.
const stopReserve = 2*maxBoundLen + 2 + 1 + fingerprintSize

// Errors of a session.
var (
	// ErrDone reports a call on a session that has finished.
	ErrDone = errors.New("reconcile: session is over")
	// ErrTooManyMessages reports a session that took more messages than
	// allowed.
	ErrTooManyMessages = errors.New("reconcile: too many messages")
	// ErrTooManyNeeded reports a peer that announced more missing items
	// than allowed; the result holds those learnt so far.
	ErrTooManyNeeded = errors.New("reconcile: too many missing items")
)

type config struct {
	buckets       int
	listThreshold int
	maxFrame      int
	maxMessages   int
	maxNeed       int
}

// Option configures a [Session].
type Option func(*config)

// WithBuckets sets how many ranges a differing range is split into (2 to
// 64, default [DefaultBuckets]).
func WithBuckets(n int) Option {
	return func(c *config) { c.buckets = min(max(n, 2), maxBuckets) }
}

// WithListThreshold sets the size under which a range is sent as an id list
// (at least the bucket count, at most 64; default [DefaultListThreshold]).
func WithListThreshold(n int) Option {
	return func(c *config) { c.listThreshold = min(n, maxListThreshold) }
}

// WithMaxFrame sets the largest message sent or accepted ([MinFrame] to
// [MaxFrameLimit], default [DefaultMaxFrame]). Both sides should use the
// same value.
func WithMaxFrame(n int) Option {
	return func(c *config) { c.maxFrame = min(max(n, MinFrame), MaxFrameLimit) }
}

// WithMaxMessages sets how many messages, sent plus received, a session may
// take (default [DefaultMaxMessages]).
func WithMaxMessages(n int) Option {
	return func(c *config) { c.maxMessages = max(n, 2) }
}

// WithMaxNeed sets how many missing items a session accepts (default
// [DefaultMaxNeed]).
func WithMaxNeed(n int) Option {
	return func(c *config) { c.maxNeed = max(n, 1) }
}

// Stats counts what a session exchanged.
type Stats struct {
	// Messages is the number of messages sent plus received.
	Messages int
	// BytesSent and BytesReceived count message payloads, without framing.
	BytesSent, BytesReceived int64
}

// Result is what a session learnt.
type Result struct {
	// Have lists the item hashes this side holds and the peer lacks, in
	// (time, id) order.
	Have []string
	// Need lists the item hashes the peer holds and this side lacks, sorted.
	Need []string
	// Stats counts the messages and bytes of the session.
	Stats Stats
}

// Session is one side of a reconciliation. The initiator calls
// [Session.Initiate] and sends its output; from then on each side passes
// every message it receives to [Session.Step] and sends back what Step
// returns, if anything, until [Session.Done]. A message that asks for no
// answer ends the session for both sides. When an error is returned the
// session is over: drop the connection.
//
// A Session is not safe for concurrent use. The storage must not change
// while the session runs.
type Session struct {
	st      Storage
	n       int
	cfg     config
	started bool
	done    bool
	err     error
	stats   Stats

	have      []uint64 // bit set of the positions the peer lacks
	haveCount int
	need      map[ID]string // item hash, "" for the hex form of the id
}

// NewSession returns a session reconciling st.
func NewSession(st Storage, opts ...Option) *Session {
	cfg := config{
		buckets:       DefaultBuckets,
		listThreshold: DefaultListThreshold,
		maxFrame:      DefaultMaxFrame,
		maxMessages:   DefaultMaxMessages,
		maxNeed:       DefaultMaxNeed,
	}
	for _, o := range opts {
		o(&cfg)
	}
	// A range of listThreshold items or more is split into buckets of at
	// least one item each.
	cfg.listThreshold = max(cfg.listThreshold, cfg.buckets)
	return &Session{st: st, n: st.Len(), cfg: cfg, need: make(map[ID]string)}
}

// Done reports whether the session is over, successfully or not.
func (s *Session) Done() bool { return s.done || s.err != nil }

// Err returns the error that ended the session, if any.
func (s *Session) Err() error { return s.err }

// Stats returns the counts so far.
func (s *Session) Stats() Stats { return s.stats }

// Initiate returns the first message of a session, for the side that starts
// it.
func (s *Session) Initiate() ([]byte, error) {
	if s.started || s.Done() {
		return nil, errors.New("reconcile: session already started")
	}
	s.started = true
	e := &encoder{buf: []byte{Version}}
	s.split(e, 0, s.n, infinity)
	return s.send(e.buf)
}

func (s *Session) send(out []byte) ([]byte, error) {
	s.stats.Messages++
	s.stats.BytesSent += int64(len(out))
	if s.stats.Messages > s.cfg.maxMessages {
		return nil, s.fail(ErrTooManyMessages)
	}
	return out, nil
}

func (s *Session) fail(err error) error {
	if s.err == nil {
		s.err = err
	}
	return s.err
}

// Step processes a message from the peer and returns the answer to send, or
// nil when the message needs none (the session is then over).
func (s *Session) Step(in []byte) ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.done {
		return nil, ErrDone
	}
	s.stats.Messages++
	s.stats.BytesReceived += int64(len(in))
	if s.stats.Messages > s.cfg.maxMessages {
		return nil, s.fail(ErrTooManyMessages)
	}
	if len(in) > s.cfg.maxFrame {
		return nil, s.fail(fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(in)))
	}
	d := &decoder{buf: in}
	if v := d.byte(); d.err == nil && v != Version {
		err := s.fail(fmt.Errorf("%w: %d", ErrUnsupportedVersion, v))
		if !s.started {
			// Tell the initiator which version this side speaks.
			s.started = true
			return []byte{Version}, err
		}
		return nil, err
	}
	s.started = true

	e := &encoder{buf: append(make([]byte, 0, 512), Version)}
	budget := s.cfg.maxFrame - stopReserve
	var (
		prev       bound // lower bound of the current range
		lo         int   // position of prev
		skip       bool  // a skip range up to prev is owed to the output
		stopped    bool  // the output is closed; only record from now on
		actionable bool  // the message asks for an answer
	)
	for d.more() {
		b := d.bound()
		mode := d.uvarint()
		if d.err != nil {
			break
		}
		if b.key().Compare(prev.key()) < 0 {
			d.fail("bounds out of order")
			break
		}
		hi := s.search(lo, b)
		switch mode {
		case modeSkip:
			skip = true

		case modeFingerprint:
			actionable = true
			fp := d.fingerprint()
			if d.err != nil || stopped {
				break
			}
			if fp == s.fingerprint(lo, hi) {
				skip = true
				break
			}
			m, owed := e.mark(), skip
			s.flushSkip(e, &skip, prev)
			s.split(e, lo, hi, b)
			if len(e.buf) > budget {
				e.reset(m)
				skip = owed
				s.stop(e, &skip, prev, lo)
				stopped = true
			}

		case modeIDList:
			actionable = true
			list := d.entries(maxListLen)
			if d.err != nil {
				break
			}
			if err := s.answerList(e, &skip, &stopped, budget, prev, b, lo, hi, list); err != nil {
				return nil, s.fail(err)
			}

		case modeIDDiff:
			list := d.entries(math.MaxInt)
			idx := d.indices(math.MaxInt)
			if d.err != nil {
				break
			}
			for _, i := range idx {
				if i >= s.n-lo {
					d.fail("index %d out of range", i)
					break
				}
				s.markHave(lo + i)
			}
			for i := range list {
				if err := s.addNeed(&list[i]); err != nil {
					return nil, s.fail(err)
				}
			}
			skip = true

		default:
			d.fail("mode %d", mode)
		}
		if d.err != nil {
			break
		}
		lo, prev = hi, b
	}
	if d.err != nil {
		return nil, s.fail(d.err)
	}
	if !actionable {
		s.done = true
		return nil, nil
	}
	if !e.actionable {
		// Nothing left to compare: this answer ends the session.
		s.done = true
	}
	return s.send(e.buf)
}

// search returns the position of the first item at or above b, from lo.
func (s *Session) search(lo int, b bound) int {
	if b.time == math.MaxUint64 {
		return s.n
	}
	return s.st.Search(lo, s.n, b.key())
}

func (s *Session) fingerprint(lo, hi int) fingerprint {
	return fingerprintOf(s.st.Sum(lo, hi), hi-lo)
}

// flushSkip writes the skip range owed up to prev.
func (s *Session) flushSkip(e *encoder, skip *bool, prev bound) {
	if *skip {
		e.bound(prev)
		e.uvarint(modeSkip)
		*skip = false
	}
}

// stop closes a message that is full: the rest of the set, from position lo,
// is sent as one fingerprint for the peer to split again.
func (s *Session) stop(e *encoder, skip *bool, prev bound, lo int) {
	s.flushSkip(e, skip, prev)
	e.bound(infinity)
	e.uvarint(modeFingerprint)
	fp := s.fingerprint(lo, s.n)
	e.buf = append(e.buf, fp[:]...)
	e.actionable = true
}

// split writes the range [lo, hi) below ub: as an id list when it is small,
// else as fingerprints of buckets of equal size.
func (s *Session) split(e *encoder, lo, hi int, ub bound) {
	e.actionable = true
	n := hi - lo
	if n < s.cfg.listThreshold {
		e.bound(ub)
		e.uvarint(modeIDList)
		e.uvarint(uint64(n))
		for i := lo; i < hi; i++ {
			it := s.st.At(i)
			e.entry(&it.ID, s.st.Hash(i))
		}
		return
	}
	per, extra := n/s.cfg.buckets, n%s.cfg.buckets
	cur := lo
	for i := range s.cfg.buckets {
		next := cur + per
		if i < extra {
			next++
		}
		fp := s.fingerprint(cur, next)
		b := ub
		if next < hi {
			b = minimalBound(s.st.At(next-1), s.st.At(next))
		}
		e.bound(b)
		e.uvarint(modeFingerprint)
		e.buf = append(e.buf, fp[:]...)
		cur = next
	}
}

// answerList records the difference between the peer's id list for the range
// [prev, b) and the local items [lo, hi), and answers with an id diff: the
// local items the peer lacks, and the positions in its list of those this
// side lacks. When the local items do not fit, the diff covers a prefix of
// the range and the message is closed with a fingerprint of the rest.
func (s *Session) answerList(e *encoder, skip, stopped *bool, budget int, prev, b bound, lo, hi int, list []entry) error {
	pos := make(map[ID]int, len(list))
	for i := range list {
		if _, dup := pos[list[i].id]; !dup {
			pos[list[i].id] = i
		}
	}
	found := make([]bool, len(list))

	// Room for the local items the peer lacks: what remains of the message
	// after the bound, mode, counts and indices (each index delta is below
	// maxListLen, two bytes at most).
	avail := -1
	if !*stopped {
		avail = budget - len(e.buf) - (maxBoundLen + 1) - 1 - 2*binary.MaxVarintLen16 - 2*len(list)
		if *skip {
			avail -= maxBoundLen + 1
		}
	}
	var (
		missing []int // local positions to send
		cut     = -1  // first local position the peer lacks that does not fit
		size    int
	)
	for p := lo; p < hi; p++ {
		it := s.st.At(p)
		if i, ok := pos[it.ID]; ok {
			found[i] = true
			continue
		}
		s.markHave(p)
		if cut >= 0 || avail < 0 {
			continue // not sending (more) entries
		}
		name := s.st.Hash(p)
		if sz := entrySize(&it.ID, name); size+sz <= avail {
			size += sz
			missing = append(missing, p)
		} else {
			cut = p
		}
	}
	var lacking []int
	for i := range list {
		if !found[pos[list[i].id]] {
			lacking = append(lacking, i)
			if err := s.addNeed(&list[i]); err != nil {
				return err
			}
		}
	}
	if *stopped {
		return nil
	}
	if avail < 0 || cut == lo {
		// Not even the first item fits: leave the range to the next message.
		s.stop(e, skip, prev, lo)
		*stopped = true
		return nil
	}
	s.flushSkip(e, skip, prev)
	ub := b
	if cut >= 0 {
		ub = minimalBound(s.st.At(cut-1), s.st.At(cut))
	}
	e.bound(ub)
	e.uvarint(modeIDDiff)
	e.uvarint(uint64(len(missing)))
	for _, p := range missing {
		it := s.st.At(p)
		e.entry(&it.ID, s.st.Hash(p))
	}
	e.uvarint(uint64(len(lacking)))
	next := 0
	for _, i := range lacking {
		e.uvarint(uint64(i - next))
		next = i + 1
	}
	if cut >= 0 {
		s.stop(e, skip, ub, cut)
		*stopped = true
	}
	return nil
}

func (s *Session) markHave(p int) {
	if s.have == nil {
		s.have = make([]uint64, (s.n+63)/64)
	}
	w, bit := p/64, uint64(1)<<(p%64)
	if s.have[w]&bit == 0 {
		s.have[w] |= bit
		s.haveCount++
	}
}

func (s *Session) addNeed(en *entry) error {
	if _, ok := s.need[en.id]; ok {
		return nil
	}
	if len(s.need) >= s.cfg.maxNeed {
		return ErrTooManyNeeded
	}
	s.need[en.id] = en.name
	return nil
}

// Result returns what the session learnt so far: complete once the session
// is done without error.
func (s *Session) Result() Result {
	r := Result{Stats: s.stats}
	if s.haveCount > 0 {
		r.Have = make([]string, 0, s.haveCount)
		for w, word := range s.have {
			for word != 0 {
				b := bits.TrailingZeros64(word)
				word &= word - 1
				r.Have = append(r.Have, s.st.Hash(w*64+b))
			}
		}
	}
	if len(s.need) > 0 {
		r.Need = make([]string, 0, len(s.need))
		for id, name := range s.need {
			if name == "" {
				e := entry{id: id}
				name = e.hash()
			}
			r.Need = append(r.Need, name)
		}
		slices.Sort(r.Need)
	}
	return r
}
