package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/goaleph/goaleph/internal/economy"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// Pricer prices messages with the prices in force at their time (the core
// node implements it). Errors with a *message.Error are the content's fault.
type Pricer interface {
	// MessagePrice returns the costs of a stored message and the address
	// they are charged to.
	MessagePrice(ctx context.Context, rec *store.Record) (*economy.Costs, string, error)
	// EstimatePrice returns the costs a content of type t would have at
	// time at.
	EstimatePrice(ctx context.Context, t message.Type, content json.RawMessage, at float64) (*economy.Costs, string, error)
	// Quota tells whether the node refuses what owners cannot pay for.
	Quota() bool
}

func (s *Server) pricer(w http.ResponseWriter, r *http.Request) Pricer {
	p, ok := s.cfg.Node.(Pricer)
	if !ok {
		s.fail(w, r, http.StatusNotImplemented, errors.New("this node does not price messages"))
		return nil
	}
	return p
}

// messagePrice is GET /api/v0/price/{item_hash}: the reference's
// EstimatedCostsResponse of a processed STORE, PROGRAM or INSTANCE. A
// pending message is 404 here (the reference answers 102, which an HTTP/1.1
// server can only send as an interim response); a rejected one 404; a
// forgotten or removed executable 410; another type 400.
func (s *Server) messagePrice(w http.ResponseWriter, r *http.Request) {
	p := s.pricer(w, r)
	if p == nil {
		return
	}
	hash := r.PathValue("hash")
	st, err := s.cfg.Store.Status(r.Context(), hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("message %s not found", message.Quote(hash)))
		return
	case err != nil:
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	switch st.Status {
	case store.StatusPending:
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("message %s is pending", hash))
		return
	case store.StatusRejected:
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("message %s was rejected", hash))
		return
	case store.StatusForgotten, store.StatusRemoved:
		if st.Record == nil || st.Record.Type != message.TypeStore {
			s.fail(w, r, http.StatusGone, fmt.Errorf("message %s is %s", hash, st.Status))
			return
		}
	}
	if st.Record == nil {
		s.fail(w, r, http.StatusGone, fmt.Errorf("message %s is %s", hash, st.Status))
		return
	}
	costs, addr, err := p.MessagePrice(r.Context(), st.Record)
	if err != nil {
		s.priceFailed(w, r, err)
		return
	}
	setQuotaHeader(w, p)
	priceJSON(costs, addr).send(w, http.StatusOK)
}

// estimatePrice is POST /api/v0/price/estimate, body {"message": {…}}:
// the message need not be signed; its content is item_content (a JSON
// string) or content (an object), and may give estimated_size_mib for files
// the node does not have.
func (s *Server) estimatePrice(w http.ResponseWriter, r *http.Request) {
	p, body := s.priceRequest(w, r)
	if body == nil {
		return
	}
	var req struct {
		Message struct {
			Type        message.Type    `json:"type"`
			Time        float64         `json:"time"`
			ItemContent string          `json:"item_content"`
			Content     json.RawMessage `json:"content"`
		} `json:"message"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.fail(w, r, http.StatusUnprocessableEntity, message.Errorf(message.CodeInvalidFormat, "body must be {\"message\": {…}}: %v", err))
		return
	}
	m := req.Message
	content := m.Content
	if m.ItemContent != "" {
		content = json.RawMessage(m.ItemContent)
	}
	s.estimate(w, r, p, m.Type, content, m.Time)
}

// estimateInstance is POST /api/v0/price/estimate/instance, body: an
// INSTANCE content.
func (s *Server) estimateInstance(w http.ResponseWriter, r *http.Request) {
	if p, body := s.priceRequest(w, r); body != nil {
		s.estimate(w, r, p, message.TypeInstance, body, 0)
	}
}

// priceRequest returns the pricer and the body of an estimate request; a
// nil body when the request was answered (no pricer, unreadable body).
func (s *Server) priceRequest(w http.ResponseWriter, r *http.Request) (Pricer, []byte) {
	p := s.pricer(w, r)
	if p == nil {
		return nil, nil
	}
	return p, s.readBody(w, r, s.cfg.Limits.MaxBodySize)
}

func (s *Server) estimate(w http.ResponseWriter, r *http.Request, p Pricer, t message.Type, content json.RawMessage, at float64) {
	switch t {
	case message.TypeStore, message.TypeProgram, message.TypeInstance:
	default:
		s.fail(w, r, http.StatusBadRequest, fmt.Errorf("%s messages have no price", message.Quote(string(t))))
		return
	}
	if len(content) == 0 || !json.Valid(content) {
		s.fail(w, r, http.StatusUnprocessableEntity, message.Errorf(message.CodeInvalidFormat, "the message needs a JSON content (item_content or content)"))
		return
	}
	if at <= 0 {
		at = float64(time.Now().UnixNano()) / 1e9
	}
	costs, addr, err := p.EstimatePrice(r.Context(), t, content, at)
	if err != nil {
		s.priceFailed(w, r, err)
		return
	}
	setQuotaHeader(w, p)
	priceJSON(costs, addr).send(w, http.StatusOK)
}

// setQuotaHeader says whether this node enforces quotas (not a reference
// header): clients check a cost before sending against a node that does,
// and compute nodes enforce payments of the executions it admitted.
func setQuotaHeader(w http.ResponseWriter, p Pricer) {
	quota := "off"
	if p.Quota() {
		quota = "on"
	}
	w.Header().Set("X-Aleph-Quota", quota)
}

func (s *Server) priceFailed(w http.ResponseWriter, r *http.Request, err error) {
	var me *message.Error
	if errors.As(err, &me) {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("pricing error: %w", err)) // the reference's 404 "Pricing error"
		return
	}
	s.fail(w, r, http.StatusInternalServerError, err)
}

// priceJSON writes the reference's EstimatedCostsResponse: required_tokens
// (a number, with every digit of the exact cost), payment_type, cost (18
// decimals), detail (one entry per cost line) and charged_address.
func priceJSON(c *economy.Costs, addr string) *jsonw {
	out := new(jsonw)
	total := c.Total()
	out.WriteByte('{')
	out.key("required_tokens")
	out.WriteString(strings.TrimRight(strings.TrimRight(economy.FormatCost(total), "0"), ".") + "")
	out.strField("payment_type", c.Payment)
	out.strField("cost", economy.FormatCost(total))
	out.key("detail")
	out.WriteByte('[')
	for i, l := range c.Lines {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteByte('{')
		out.costLine(l)
		if l.SizeMiB != nil {
			out.key("size_mib")
			out.WriteString(sizeMiB(l.SizeMiB))
		}
		out.WriteByte('}')
	}
	out.WriteByte(']')
	out.strField("charged_address", addr)
	out.WriteByte('}')
	return out
}

// costLine writes the fields of a cost line both the price and the costs
// answers hold: type, name and the three costs.
func (out *jsonw) costLine(l economy.Line) {
	out.strField("type", l.Type)
	out.strField("name", l.Name)
	out.strField("cost_hold", economy.FormatCost(l.Hold))
	out.strField("cost_stream", economy.FormatCost(l.Stream))
	out.strField("cost_credit", economy.FormatCost(l.Credit))
}

// sizeMiB is a line's size in MiB as the reference prints it: exact,
// without trailing zeros.
func sizeMiB(v *big.Rat) string {
	return strings.TrimRight(strings.TrimRight(v.FloatString(20), "0"), ".")
}
