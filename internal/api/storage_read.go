package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// fileHash reads the {hash} of the path as a file hash; it answers 400
// and returns false when it is not one.
func (s *Server) fileHash(w http.ResponseWriter, r *http.Request) (string, files.Engine, bool) {
	hash := r.PathValue("hash")
	engine, err := files.EngineOf(hash)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, fmt.Errorf("invalid file hash %q", hash))
		return "", "", false
	}
	return hash, engine, true
}

// openFile opens the stored file of the path's {hash} (see fileHash),
// answering 404 when there is none; ok is false when answered.
func (s *Server) openFile(w http.ResponseWriter, r *http.Request) (hash string, engine files.Engine, f files.File, ok bool) {
	hash, engine, ok = s.fileHash(w, r)
	if !ok {
		return "", "", nil, false
	}
	f, err := s.cfg.Files.Open(r.Context(), hash)
	if errors.Is(err, files.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("file %s not found", hash))
		return "", "", nil, false
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return "", "", nil, false
	}
	return hash, engine, f, true
}

// getRaw is GET|HEAD /api/v0/storage/raw/{hash}: the file's bytes, with
// range requests; ?find (sent by the SDKs) is ignored.
func (s *Server) getRaw(w http.ResponseWriter, r *http.Request) {
	hash, _, f, ok := s.openFile(w, r)
	if !ok {
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	// Content addressed: the hash is a strong validator and never changes.
	h.Set("ETag", `"`+hash+`"`)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, f)
}

// maxBase64File is the largest file GET /api/v0/storage/{hash} returns.
const maxBase64File = 100 << 20

// getStorageBase64 is GET /api/v0/storage/{hash}: {"status": "success",
// "hash", "engine", "content": base64} (also the peers' content fallback).
func (s *Server) getStorageBase64(w http.ResponseWriter, r *http.Request) {
	hash, engine, f, ok := s.openFile(w, r)
	if !ok {
		return
	}
	defer f.Close()
	if f.Size() > maxBase64File {
		s.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("file %s is larger than %d bytes", hash, maxBase64File))
		return
	}
	var out jsonw
	out.Grow(int(f.Size())*4/3 + 200)
	out.WriteString(`{"status":"success","hash":`)
	out.str(hash)
	out.strField("engine", string(engine))
	out.key("content")
	out.WriteByte('"')
	enc := base64.NewEncoder(base64.StdEncoding, &out)
	if _, err := io.Copy(enc, f); err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	enc.Close()
	out.WriteString(`"}`)
	out.send(w, http.StatusOK)
}

// writePin writes {ref, owner, file_hash, download_url, size} of a STORE pin.
func (s *Server) writePin(w http.ResponseWriter, r *http.Request, pin *store.Pin, err error) {
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, errors.New("file not found"))
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	var size int64
	if f, err := s.cfg.Store.File(r.Context(), pin.FileHash); err == nil {
		size = f.Size
	} else if !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	var out jsonw
	out.WriteString(`{"ref":`)
	out.strOrNull(pin.Ref)
	out.key("owner")
	out.strOrNull(pin.Owner)
	out.strField("file_hash", pin.FileHash)
	out.strField("download_url", "/api/v0/storage/raw/"+pin.FileHash)
	out.intField("size", size)
	out.WriteByte('}')
	out.send(w, http.StatusOK)
}

// getFileByMessage is GET /api/v0/storage/by-message-hash/{hash}.
func (s *Server) getFileByMessage(w http.ResponseWriter, r *http.Request) {
	hash := r.PathValue("hash")
	if !message.ValidHash(hash) {
		s.fail(w, r, http.StatusBadRequest, fmt.Errorf("invalid message hash %q", hash))
		return
	}
	pin, err := s.cfg.Store.FileByMessage(r.Context(), hash)
	s.writePin(w, r, pin, err)
}

// getFileByRef is GET /api/v0/storage/by-ref/{ref} and
// /by-ref/{address}/{ref}: the file of the latest STORE with that ref.
func (s *Server) getFileByRef(w http.ResponseWriter, r *http.Request) {
	pin, err := s.cfg.Store.FileByRef(r.Context(), r.PathValue("address"), r.PathValue("ref"))
	s.writePin(w, r, pin, err)
}

// getFileMetadata is GET /api/v0/storage/metadata/{hash}.
func (s *Server) getFileMetadata(w http.ResponseWriter, r *http.Request) {
	hash, _, ok := s.fileHash(w, r)
	if !ok {
		return
	}
	f, err := s.cfg.Store.File(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, http.StatusNotFound, fmt.Errorf("file %s not found", hash))
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	var out jsonw
	out.WriteString(`{"file_hash":`)
	out.str(f.Hash)
	out.strField("type", f.Type)
	out.intField("size", f.Size)
	out.strField("download_url", "/api/v0/storage/raw/"+f.Hash)
	out.WriteByte('}')
	out.send(w, http.StatusOK)
}

// getFileCount is GET /api/v0/storage/count/{hash}: the number of pins.
func (s *Server) getFileCount(w http.ResponseWriter, r *http.Request) {
	hash, _, ok := s.fileHash(w, r)
	if !ok {
		return
	}
	n, err := s.cfg.Store.PinCount(r.Context(), hash)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	var out jsonw
	out.int(int64(n))
	out.send(w, http.StatusOK)
}

// getLimits is GET /api/v0/storage/limits.json.
func (s *Server) getLimits(w http.ResponseWriter, r *http.Request) {
	l := s.cfg.Limits
	var out jsonw
	out.WriteString(`{"storage":{"max_file_size":`)
	out.int(l.MaxFileSize)
	out.intField("max_unauthenticated_upload_file_size", l.MaxUnauthenticatedSize)
	out.WriteString(`},"ipfs":{"max_upload_file_size":`)
	out.int(l.MaxIPFSFileSize)
	out.intField("max_upload_car_size", l.MaxCARSize)
	out.intField("max_unauthenticated_upload_file_size", l.MaxUnauthenticatedSize)
	out.WriteString(`}}`)
	out.send(w, http.StatusOK)
}
