package api

import (
	"fmt"

	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// ---- messages.json --------------------------------------------------------

const (
	defaultPagination = 20
	defaultWSHistory  = 10
	maxWSHistory      = 199
	maxCursorPage     = 200
)

// contentFormat selects how much of each message's content is written.
type contentFormat int

const (
	contentFull contentFormat = iota
	contentHeaders
	contentNone
)

// messageQuery is a parsed messages.json (or WebSocket) query.
type messageQuery struct {
	filter    store.MessageFilter
	format    contentFormat
	forgotten bool // list forgotten skeletons
	none      bool // nothing can match (removed messages)
	txTime    bool
	cursor    bool
}

var paymentTypes = map[string]bool{"hold": true, "superfluid": true, "credit": true}

var statuses = map[store.Status]bool{
	store.StatusPending: true, store.StatusProcessed: true, store.StatusRejected: true,
	store.StatusForgotten: true, store.StatusRemoving: true, store.StatusRemoved: true,
}

// badRequest is a query the reference node answers with 400 (not 422).
type badRequest struct{ error }

// parseMessageQuery reads the filters shared by messages.json and the
// WebSocket (spec §9.1). Unknown parameters are ignored.
func parseMessageQuery(p *params) *messageQuery {
	mq := &messageQuery{}
	f := &mq.filter
	f.Hashes = p.hashList("hashes")
	f.Addresses = p.list("addresses")
	f.Owners = p.list("owners")
	f.Refs = p.list("refs")
	f.ContentHashes = p.hashList("contentHashes")
	f.ContentKeys = p.list("contentKeys")
	f.ContentTypes = p.list("contentTypes")
	f.Channels = p.list("channels")
	f.Tags = p.list("tags")
	for _, c := range p.list("chains") {
		if !message.KnownChain(c) {
			p.fail("chains: unknown chain %q", c)
		}
		f.Chains = append(f.Chains, c)
	}
	addType := func(name, t string) {
		if !message.Type(t).Valid() {
			p.fail("%s: unknown message type %q", name, t)
			return
		}
		f.Types = append(f.Types, message.Type(t))
	}
	if t, ok := p.get("msgType"); ok && t != "" {
		addType("msgType", t)
	}
	if msgTypes := p.list("msgTypes"); len(msgTypes) > 0 {
		if len(f.Types) > 0 {
			// msgType and msgTypes together: both must hold.
			keep := f.Types[0]
			f.Types = nil
			for _, t := range msgTypes {
				if message.Type(t) == keep {
					f.Types = append(f.Types, keep)
				} else if !message.Type(t).Valid() {
					p.fail("msgTypes: unknown message type %q", t)
				}
			}
			if len(f.Types) == 0 {
				mq.none = true
			}
		} else {
			for _, t := range msgTypes {
				addType("msgTypes", t)
			}
		}
	}
	for _, pt := range p.list("paymentTypes") {
		if !paymentTypes[pt] {
			p.fail("paymentTypes: unknown payment type %q", pt)
		}
		f.PaymentTypes = append(f.PaymentTypes, pt)
	}
	var sts []store.Status
	for _, s := range p.list("msgStatuses") {
		if !statuses[store.Status(s)] {
			p.fail("msgStatuses: unknown status %q", s)
		}
		sts = append(sts, store.Status(s))
	}
	f.StartDate, f.EndDate = p.dates()
	startBlock, endBlock := p.int("startBlock", 0, 0, -1), p.int("endBlock", 0, 0, -1)
	if startBlock > 0 && endBlock > 0 && endBlock < startBlock {
		p.fail("end block cannot be lower than start block")
	}
	f.StartBlock, f.EndBlock = uint64(startBlock), uint64(endBlock)
	switch s, _ := p.get("sortBy"); s {
	case "", "time":
	case "tx-time":
		// By first confirmation time; unconfirmed messages come first
		// (newest first) or last (oldest first), as the reference's.
		mq.txTime = true
		f.SortTxTime = true
	default:
		p.fail("sortBy: %q is not time or tx-time", s)
	}
	f.SortAsc = p.sortAsc()
	if p.bool("excludeContent", false) {
		mq.format = contentNone
	}
	switch s, _ := p.get("contentFormat"); s {
	case "", "full":
	case "headers":
		mq.format = contentHeaders
	case "none":
		mq.format = contentNone
	default:
		p.fail("contentFormat: %q is not full, headers or none", s)
	}
	if p.err != nil {
		return mq
	}
	if len(sts) > 0 {
		set := map[store.Status]bool{}
		for _, s := range sts {
			set[s] = true
		}
		switch {
		case len(set) == 1 && set[store.StatusForgotten]:
			mq.forgotten = true
			f.Statuses = []store.Status{store.StatusForgotten}
		case len(set) == 1 && set[store.StatusRemoved]:
			// Removed messages are not kept by this node.
			mq.none = true
		default:
			for s := range set {
				if s != store.StatusProcessed && s != store.StatusRemoving {
					p.err = badRequest{fmt.Errorf("msgStatuses: %s can only be listed alone", s)}
					return mq
				}
			}
			f.Statuses = sts
		}
	}
	return mq
}
