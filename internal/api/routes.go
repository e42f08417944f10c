package api

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/goaleph/goaleph/internal/vmjs"
)

// routes registers every endpoint. Read endpoints live in messages.go,
// posts.go, aggregates.go, storage_read.go, misc.go and ws.go; write
// endpoints in submit.go and upload.go.
func (s *Server) routes() {
	m := s.mux
	// messages
	m.HandleFunc("POST /api/v0/messages", s.postMessage)
	m.HandleFunc("POST /api/v0/ipfs/pubsub/pub", s.pubsubPub)
	m.HandleFunc("POST /api/v0/p2p/pubsub/pub", s.pubsubPub)
	m.HandleFunc("GET /api/v0/messages.json", s.listMessages)
	m.HandleFunc("GET /api/v0/messages/{hash}", s.getMessage)
	// /messages/page/{page}.json, /messages/{hash}/status and
	// /messages/{hash}/content share one pattern.
	m.HandleFunc("GET /api/v0/messages/{hash}/{sub}", s.messageSubroute)
	m.HandleFunc("GET /api/ws0/messages", s.wsMessages)
	// posts
	m.HandleFunc("GET /api/v0/posts.json", s.listPostsV0)
	m.HandleFunc("GET /api/v0/posts/page/{page}", s.listPostsV0)
	m.HandleFunc("GET /api/v1/posts.json", s.listPostsV1)
	m.HandleFunc("GET /api/v1/posts/page/{page}", s.listPostsV1)
	// aggregates
	m.HandleFunc("GET /api/v0/aggregates/{address}", s.getAggregates)
	m.HandleFunc("GET /api/v0/aggregates", s.listAggregates)
	m.HandleFunc("GET /api/v0/aggregates.json", s.listAggregates)
	// storage
	m.HandleFunc("POST /api/v0/storage/add_json", s.addJSON)
	m.HandleFunc("POST /api/v0/ipfs/add_json", s.addJSON)
	m.HandleFunc("POST /api/v0/storage/add_file", s.addFile)
	m.HandleFunc("POST /api/v0/ipfs/add_file", s.addFile)
	m.HandleFunc("GET /api/v0/storage/raw/{hash}", s.getRaw)
	m.HandleFunc("HEAD /api/v0/storage/raw/{hash}", s.getRaw)
	m.HandleFunc("GET /api/v0/storage/{hash}", s.getStorageBase64)
	m.HandleFunc("GET /api/v0/storage/by-message-hash/{hash}", s.getFileByMessage)
	m.HandleFunc("GET /api/v0/storage/by-ref/{ref}", s.getFileByRef)
	m.HandleFunc("GET /api/v0/storage/by-ref/{address}/{ref}", s.getFileByRef)
	m.HandleFunc("GET /api/v0/storage/metadata/{hash}", s.getFileMetadata)
	m.HandleFunc("GET /api/v0/storage/count/{hash}", s.getFileCount)
	m.HandleFunc("GET /api/v0/storage/limits.json", s.getLimits)
	// misc
	m.HandleFunc("GET /api/v0/addresses/stats.json", s.addressStats)
	m.HandleFunc("GET /api/v0/addresses/{address}/files", s.addressFiles)
	m.HandleFunc("GET /api/v0/addresses/{address}/balance", s.addressBalance)
	m.HandleFunc("GET /api/v0/addresses/{address}/credit_history", s.addressCreditHistory)
	m.HandleFunc("GET /api/v0/addresses/{address}/credit_history/summary", s.addressCreditSummary)
	m.HandleFunc("GET /api/v0/credit_balances", s.creditBalances)
	m.HandleFunc("GET /api/v0/costs", s.costs)
	m.HandleFunc("GET /api/v0/price/{hash}", s.messagePrice)
	m.HandleFunc("POST /api/v0/price/estimate", s.estimatePrice)
	m.HandleFunc("POST /api/v0/price/estimate/instance", s.estimateInstance)
	m.HandleFunc("GET /api/v0/authorizations/granted/{address}", s.authorizationsGranted)
	m.HandleFunc("GET /api/v0/authorizations/received/{address}", s.authorizationsReceived)
	m.HandleFunc("GET /api/v0/channels/list.json", s.channels)
	m.HandleFunc("GET /api/v0/info/public.json", s.publicInfo)
	m.HandleFunc("GET /api/v0/version", s.version)
	m.HandleFunc("GET /version", s.version)
	// the browser module that calls programs on the compute nodes
	m.Handle("GET "+vmjs.Path, vmjs.Handler(nil))
	if s.cfg.Registry != nil {
		m.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
	}
	m.HandleFunc("/", s.notFound)
}

func (s *Server) messageSubroute(w http.ResponseWriter, r *http.Request) {
	switch hash, sub := r.PathValue("hash"), r.PathValue("sub"); {
	case hash == "page":
		r.SetPathValue("page", sub)
		s.listMessages(w, r)
	case sub == "status":
		s.getMessageStatus(w, r)
	case sub == "content":
		s.getMessageContent(w, r)
	case sub == "consumed_credits":
		s.consumedCredits(w, r)
	default:
		s.notFound(w, r)
	}
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, apiError{Error: "not found"})
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": s.cfg.Version})
}
