package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
	"github.com/goaleph/goaleph/message"
)

// engineOf tells the engine of an upload route (/storage/… or /ipfs/…).
func engineOf(r *http.Request) files.Engine {
	if strings.HasPrefix(r.URL.Path, "/api/v0/ipfs/") {
		return files.IPFS
	}
	return files.Native
}

// addJSON is POST /api/v0/{storage,ipfs}/add_json: the node stores its own
// compact serialisation of the JSON body (sorted keys, numbers and strings
// kept as sent) and answers its hash. The file gets a grace-period pin.
// The body is canonicalised as it is read (see canonicalJSON), under the
// unauthenticated size limit; at most maxConcurrentJSON requests do so and
// store the result at once, a request waiting up to jsonQueueWait for its
// turn before a 503.
func (s *Server) addJSON(w http.ResponseWriter, r *http.Request) {
	if !s.acquireJSON(w, r) {
		return
	}
	// The slot is held until the file is stored: the canonical form stays
	// in memory until then.
	defer s.releaseJSON()
	limit := s.cfg.Limits.MaxUnauthenticatedSize
	canon, err := canonicalJSON(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			s.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("request body larger than %d bytes", limit))
		case r.Context().Err() != nil:
		default:
			s.fail(w, r, http.StatusUnprocessableEntity, message.Errorf(message.CodeInvalidFormat, "body is not valid JSON"))
		}
		return
	}
	info, err := s.cfg.Files.Add(r.Context(), engineOf(r), canon.reader(), files.AddOptions{})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	if err := s.cfg.Node.PinUpload(r.Context(), info); err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "success", "hash": info.Hash})
}

const (
	// maxConcurrentJSON bounds the add_json requests canonicalising at
	// once, so their memory (a few times the body each) is bounded in total.
	maxConcurrentJSON = 4
	// jsonQueueWait is how long an add_json request waits for a free slot.
	jsonQueueWait = 10 * time.Second
)

// acquireJSON takes an add_json slot, or answers 503 with Retry-After.
func (s *Server) acquireJSON(w http.ResponseWriter, r *http.Request) bool {
	t := time.NewTimer(jsonQueueWait)
	defer t.Stop()
	select {
	case s.jsonSlots <- struct{}{}:
		return true
	case <-r.Context().Done():
		return false
	case <-t.C:
		w.Header().Set("Retry-After", "5")
		s.fail(w, r, http.StatusServiceUnavailable, errors.New("too many add_json requests in progress, retry later"))
		return false
	}
}

func (s *Server) releaseJSON() { <-s.jsonSlots }

// uploadMeta is the optional "metadata" part of an upload.
type uploadMeta struct {
	Message json.RawMessage `json:"message"`
	Sync    bool            `json:"sync"`
}

// addFile is POST /api/v0/{storage,ipfs}/add_file: multipart with one
// "file" part and an optional "metadata" part (a signed inline STORE
// message), in either order, or (storage only) a raw body. Without metadata
// the upload is unauthenticated: smaller limit and a grace-period pin.
//
// Any other part, or a second file or metadata part, is refused with a 400.
// The file streams under the authenticated limit only when the metadata
// part came before it; otherwise under the unauthenticated one. Whatever
// the request stored is removed again when it fails (unless the file was
// already known).
func (s *Server) addFile(w http.ResponseWriter, r *http.Request) {
	engine := engineOf(r)
	maxAuth := s.cfg.Limits.MaxFileSize
	if engine == files.IPFS {
		maxAuth = s.cfg.Limits.MaxIPFSFileSize
	}
	maxAnon := s.cfg.Limits.MaxUnauthenticatedSize
	r.Body = http.MaxBytesReader(w, r.Body, max(maxAuth, maxAnon)+1<<20)

	mediaType, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var (
		info     files.Info
		existed  bool
		haveFile bool
		done     bool
		meta     *uploadMeta
		name     string
	)
	defer func() {
		if haveFile && !done {
			s.discard(r, info, existed)
		}
	}()
	add := func(src io.Reader, limit int64) error {
		i, ex, err := s.store(r, engine, src, limit)
		info, existed, haveFile = i, ex, err == nil
		return err
	}
	if mediaType == "multipart/form-data" {
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				s.uploadError(w, r, err)
				return
			}
			switch part.FormName() {
			case "file":
				if haveFile {
					s.fail(w, r, http.StatusBadRequest, errors.New("more than one file part"))
					return
				}
				name = part.FileName()
				limit := maxAnon
				if meta != nil {
					limit = maxAuth
				}
				if err := add(part, limit); err != nil {
					s.uploadError(w, r, err)
					return
				}
			case "metadata":
				if meta != nil {
					s.fail(w, r, http.StatusBadRequest, errors.New("more than one metadata part"))
					return
				}
				b, err := io.ReadAll(io.LimitReader(part, s.cfg.Limits.MaxBodySize+1))
				if err != nil {
					s.uploadError(w, r, err)
					return
				}
				if len(b) > int(s.cfg.Limits.MaxBodySize) {
					s.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("metadata part larger than %d bytes", s.cfg.Limits.MaxBodySize))
					return
				}
				meta = &uploadMeta{}
				if json.Unmarshal(b, meta) != nil || len(meta.Message) == 0 {
					s.fail(w, r, http.StatusUnprocessableEntity, message.Errorf(message.CodeInvalidFormat, "metadata must be {\"message\": {…}, \"sync\": bool}"))
					return
				}
			default:
				s.fail(w, r, http.StatusBadRequest, fmt.Errorf("unexpected part %q: an upload has one \"file\" part and an optional \"metadata\" part", part.FormName()))
				return
			}
			part.Close()
		}
	} else if engine == files.Native {
		if err := add(r.Body, maxAnon); err != nil {
			s.uploadError(w, r, err)
			return
		}
	}
	if !haveFile {
		s.fail(w, r, http.StatusUnprocessableEntity, errors.New("missing file part"))
		return
	}
	if meta == nil && info.Size > maxAnon {
		s.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("unauthenticated uploads are limited to %d bytes", maxAnon))
		return
	}
	var m *message.Message
	if meta != nil {
		var code int
		var err error
		if m, code, err = s.checkUploadMessage(meta, info, engine); err != nil {
			s.fail(w, r, code, err)
			return
		}
	}
	if err := s.cfg.Node.PinUpload(r.Context(), info); err != nil {
		s.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	done = true
	code := http.StatusOK
	if m != nil {
		status, err := s.cfg.Node.Submit(r.Context(), m, "http", meta.Sync)
		if err != nil && status == "" {
			s.fail(w, r, notStoredCode(err), err)
			return
		}
		if !meta.Sync {
			status = store.StatusPending
		}
		code = statusCode(status)
	}
	out := map[string]any{"status": "success", "hash": info.Hash}
	if engine == files.IPFS {
		out["name"], out["size"] = name, info.Size
	}
	writeJSON(w, code, out)
}

// store streams src into the file store. existed tells whether the file
// was already there (it must then survive a failed upload).
func (s *Server) store(r *http.Request, engine files.Engine, src io.Reader, max int64) (files.Info, bool, error) {
	info, err := s.cfg.Files.Add(r.Context(), engine, src, files.AddOptions{MaxSize: max})
	if err != nil {
		return info, false, err
	}
	// A file added before this request may be pinned by others: the
	// request must not delete it on failure. Files.Add is idempotent, so
	// the check is whether any pin or row already references it.
	// When the store cannot tell (database down), assume it did.
	_, ferr := s.cfg.Store.File(r.Context(), info.Hash)
	return info, !errors.Is(ferr, store.ErrNotFound), nil
}

func (s *Server) discard(r *http.Request, info files.Info, existed bool) {
	if existed {
		return
	}
	if err := s.cfg.Files.Delete(r.Context(), info.Hash); err != nil {
		s.log.Warn("discard upload", "hash", info.Hash, "err", err)
	}
}

func (s *Server) uploadError(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, files.ErrTooLarge), errors.As(err, &mbe):
		s.fail(w, r, http.StatusRequestEntityTooLarge, errors.New("file too large"))
	case r.Context().Err() != nil:
	default:
		s.fail(w, r, http.StatusBadRequest, fmt.Errorf("read upload: %w", err))
	}
}

// checkUploadMessage validates the STORE message of an authenticated
// upload: inline STORE (422), valid signature (403), content.item_hash
// equal to the uploaded file's hash (422).
func (s *Server) checkUploadMessage(meta *uploadMeta, info files.Info, engine files.Engine) (*message.Message, int, error) {
	m, err := message.Parse(meta.Message)
	if err != nil {
		return nil, http.StatusUnprocessableEntity, err
	}
	if m.Type != message.TypeStore || m.ItemType != message.ItemInline {
		return nil, http.StatusUnprocessableEntity, message.Errorf(message.CodeInvalidFormat, "metadata must carry an inline STORE message")
	}
	c, err := message.ParseContent(m, []byte(m.ItemContent))
	if err != nil {
		return nil, http.StatusUnprocessableEntity, err
	}
	if err := s.cfg.Node.VerifySignature(m); err != nil {
		return nil, http.StatusForbidden, err
	}
	if c.Store.ItemHash != info.Hash {
		return nil, http.StatusUnprocessableEntity, message.Errorf(message.CodeInvalidFormat,
			"content.item_hash %s does not match the uploaded file %s", c.Store.ItemHash, info.Hash)
	}
	if string(c.Store.ItemType) != string(engine) {
		return nil, http.StatusUnprocessableEntity, message.Errorf(message.CodeInvalidFormat,
			"content.item_type %s does not match the upload engine %s", c.Store.ItemType, engine)
	}
	return m, 0, nil
}
