package api

import "net/http"

// Read endpoints not written yet answer 501. Delete each stub when its
// handler exists.

type wsHub struct{}

func notImplemented(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotImplemented, apiError{Error: "not implemented"})
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request)           { notImplemented(w, r) }
func (s *Server) getMessage(w http.ResponseWriter, r *http.Request)             { notImplemented(w, r) }
func (s *Server) getMessageStatus(w http.ResponseWriter, r *http.Request)       { notImplemented(w, r) }
func (s *Server) getMessageContent(w http.ResponseWriter, r *http.Request)      { notImplemented(w, r) }
func (s *Server) wsMessages(w http.ResponseWriter, r *http.Request)             { notImplemented(w, r) }
func (s *Server) listPostsV0(w http.ResponseWriter, r *http.Request)            { notImplemented(w, r) }
func (s *Server) listPostsV1(w http.ResponseWriter, r *http.Request)            { notImplemented(w, r) }
func (s *Server) getAggregates(w http.ResponseWriter, r *http.Request)          { notImplemented(w, r) }
func (s *Server) listAggregates(w http.ResponseWriter, r *http.Request)         { notImplemented(w, r) }
func (s *Server) getRaw(w http.ResponseWriter, r *http.Request)                 { notImplemented(w, r) }
func (s *Server) getStorageBase64(w http.ResponseWriter, r *http.Request)       { notImplemented(w, r) }
func (s *Server) getFileByMessage(w http.ResponseWriter, r *http.Request)       { notImplemented(w, r) }
func (s *Server) getFileByRef(w http.ResponseWriter, r *http.Request)           { notImplemented(w, r) }
func (s *Server) getFileMetadata(w http.ResponseWriter, r *http.Request)        { notImplemented(w, r) }
func (s *Server) getFileCount(w http.ResponseWriter, r *http.Request)           { notImplemented(w, r) }
func (s *Server) getLimits(w http.ResponseWriter, r *http.Request)              { notImplemented(w, r) }
func (s *Server) addressStats(w http.ResponseWriter, r *http.Request)           { notImplemented(w, r) }
func (s *Server) authorizationsGranted(w http.ResponseWriter, r *http.Request)  { notImplemented(w, r) }
func (s *Server) authorizationsReceived(w http.ResponseWriter, r *http.Request) { notImplemented(w, r) }
func (s *Server) channels(w http.ResponseWriter, r *http.Request)               { notImplemented(w, r) }
func (s *Server) publicInfo(w http.ResponseWriter, r *http.Request)             { notImplemented(w, r) }
