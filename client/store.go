package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"strconv"
	"time"

	"github.com/goaleph/goaleph/message"
)

// Storage engines of Store.
const (
	EngineStorage = "storage" // the node's native store, addressed by sha256
	EngineIPFS    = "ipfs"    // IPFS, addressed by CID
)

// StoreParams describes a STORE.
type StoreParams struct {
	// Engine is EngineStorage (default) or EngineIPFS.
	Engine string
	// Ref references another STORE message (a new version of a file) or
	// any reference.
	Ref     string
	Channel string
	// Sync asks the node to process the STORE message before answering.
	Sync bool
	// Size is the file size in bytes, when known; otherwise it is found by
	// seeking to the end.
	Size int64
	// Progress, when set, is called as the file is uploaded with the bytes
	// sent so far and the total. It runs on the uploading goroutine.
	Progress func(done, total int64)
	// Time of the message; zero means now.
	Time time.Time
	// PaymentType is the message's payment type (hold, credit); empty
	// writes no payment field, which means hold.
	PaymentType string
}

// StoreFile stores the file at path; see Store.
func (c *Client) StoreFile(ctx context.Context, s message.Signer, path string, p StoreParams) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("aleph: %w", err)
	}
	defer f.Close()
	if p.Size <= 0 {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			p.Size = fi.Size()
		}
	}
	return c.Store(ctx, s, f, p)
}

// Store uploads the file read from r (from its current offset) and
// publishes a STORE message for it, signed by s.
//
// With EngineStorage, r is read twice: once to compute the sha256 that the
// signed message names, then to upload it in a multipart request whose
// "metadata" part carries the signed message, as the official SDK does.
// With EngineIPFS, the file is uploaded to /api/v0/ipfs/add_file, then a
// STORE message naming the returned CID is sent to /api/v0/messages (the
// node limits such unauthenticated uploads, 25 MiB by default). In both
// cases the file is streamed, never held in memory.
func (c *Client) Store(ctx context.Context, s message.Signer, r io.ReadSeeker, p StoreParams) (*Result, error) {
	start, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("aleph: store: seek: %w", err)
	}
	switch p.Engine {
	case "", EngineStorage:
		return c.storeNative(ctx, s, r, start, p)
	case EngineIPFS:
		return c.storeIPFS(ctx, s, r, start, p)
	default:
		return nil, fmt.Errorf("aleph: unknown storage engine %q", p.Engine)
	}
}

// Pin publishes a STORE message for a file already on IPFS, by its CID
// (item_type ipfs): nothing is uploaded, the node fetches the file. Of p,
// Ref, Channel, Sync and Time are used.
func (c *Client) Pin(ctx context.Context, s message.Signer, cid string, p StoreParams) (*Result, error) {
	if it, err := message.ItemTypeOf(cid); err != nil || it != message.ItemIPFS {
		return nil, fmt.Errorf("aleph: pin: %q is not an IPFS CID (Qm… or bafy…/bafk…)", cid)
	}
	t := msgTime(p.Time)
	res, err := c.publish(ctx, s, message.TypeStore, storeContent(s, EngineIPFS, cid, p, t), p.Channel, p.Sync, t)
	if res != nil {
		res.FileHash = cid
	}
	return res, err
}

// storeContent builds a STORE content in the SDK's key order.
func storeContent(s message.Signer, engine, hash string, p StoreParams, t time.Time) []byte {
	var o object
	o.add("address", s.Address())
	o.add("item_type", engine)
	o.add("item_hash", hash)
	o.raw("time", timeJSON(t))
	if p.Ref != "" {
		o.add("ref", p.Ref)
	}
	if p.PaymentType != "" {
		o.raw("payment", []byte(`{"type":`+strconv.Quote(p.PaymentType)+`}`))
	}
	return o.bytes()
}

func (c *Client) storeNative(ctx context.Context, s message.Signer, r io.ReadSeeker, start int64, p StoreParams) (*Result, error) {
	// Pass 1: hash and size.
	h := sha256.New()
	size, err := io.Copy(h, r)
	if err != nil {
		return nil, fmt.Errorf("aleph: store: read file: %w", err)
	}
	if p.Size > 0 && p.Size != size {
		return nil, fmt.Errorf("aleph: store: file has %d bytes, not %d", size, p.Size)
	}
	hash := hex.EncodeToString(h.Sum(nil))
	if _, err := r.Seek(start, io.SeekStart); err != nil {
		return nil, fmt.Errorf("aleph: store: seek: %w", err)
	}
	t := msgTime(p.Time)
	m, err := message.NewInline(s, message.TypeStore, p.Channel, string(storeContent(s, EngineStorage, hash, p, t)), t)
	if err != nil {
		return nil, fmt.Errorf("aleph: sign: %w", err)
	}
	env, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	meta := []byte(`{"message":` + string(env) + `,"sync":` + strconv.FormatBool(p.Sync) + `}`)

	// Pass 2: upload, metadata part first.
	resp, rb, err := c.uploadFile(ctx, "/api/v0/storage/add_file", meta, r, size, p.Progress)
	if err != nil {
		return nil, err
	}
	res := &Result{Message: m, FileHash: hash}
	switch resp.StatusCode {
	case http.StatusOK:
		res.Status = StatusProcessed
	case http.StatusAccepted:
		res.Status = StatusPending
	case http.StatusUnprocessableEntity:
		// The upload was accepted but the message was rejected, or the
		// upload itself was refused: ask the node which.
		e := newError(resp, rb)
		if e.Code == nil {
			if mr, err := c.Message(ctx, m.ItemHash); err == nil && mr.Status == StatusRejected {
				res.Status, e.Code = StatusRejected, mr.ErrorCode
				return res, e
			}
		}
		return nil, e
	default:
		return nil, newError(resp, rb)
	}
	return res, nil
}

// uploadFile POSTs a multipart body (the metadata part, if meta is not
// nil, then size bytes of file) to path and returns the answer and its
// body, whatever its status.
func (c *Client) uploadFile(ctx context.Context, path string, meta []byte, file io.Reader, size int64, progress func(done, total int64)) (*http.Response, []byte, error) {
	body, length, ctype, err := multipartBody(meta, file, size, progress)
	if err != nil {
		return nil, nil, err
	}
	req, err := c.newRequest(ctx, http.MethodPost, path, nil, body)
	if err != nil {
		return nil, nil, err
	}
	req.ContentLength = length
	req.Header.Set("Content-Type", ctype)
	resp, err := c.send(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	rb, err := readBody(resp)
	if err != nil {
		return nil, nil, err
	}
	return resp, rb, nil
}

// multipartBody returns a streaming multipart body with a "metadata" part
// (meta) and a "file" part (size bytes of file), its exact length and its
// content type. Only the part headers are buffered.
func multipartBody(meta []byte, file io.Reader, size int64, progress func(done, total int64)) (io.Reader, int64, string, error) {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	if meta != nil {
		mh := textproto.MIMEHeader{}
		mh.Set("Content-Disposition", `form-data; name="metadata"`)
		pw, err := mw.CreatePart(mh)
		if err != nil {
			return nil, 0, "", err
		}
		pw.Write(meta)
	}
	fh := textproto.MIMEHeader{}
	fh.Set("Content-Disposition", `form-data; name="file"; filename="blob"`)
	fh.Set("Content-Type", "application/octet-stream")
	if _, err := mw.CreatePart(fh); err != nil {
		return nil, 0, "", err
	}
	prefix := append([]byte(nil), head.Bytes()...)
	head.Reset()
	if err := mw.Close(); err != nil {
		return nil, 0, "", err
	}
	trailer := head.Bytes()
	var src io.Reader = &exactReader{r: file, left: size}
	if progress != nil {
		progress(0, size)
		src = &progressReader{r: src, total: size, fn: progress}
	}
	body := io.MultiReader(bytes.NewReader(prefix), src, bytes.NewReader(trailer))
	return body, int64(len(prefix)) + size + int64(len(trailer)), mw.FormDataContentType(), nil
}

// exactReader reads exactly left bytes from r, failing if r ends early.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF {
		if e.left > 0 {
			return n, fmt.Errorf("file shrank during upload: %w", io.ErrUnexpectedEOF)
		}
		err = nil
	}
	if e.left == 0 && err == nil {
		err = io.EOF
	}
	return n, err
}

func (c *Client) storeIPFS(ctx context.Context, s message.Signer, r io.ReadSeeker, start int64, p StoreParams) (*Result, error) {
	size := p.Size
	if size <= 0 {
		end, err := r.Seek(0, io.SeekEnd)
		if err != nil {
			return nil, fmt.Errorf("aleph: store: seek: %w", err)
		}
		if _, err := r.Seek(start, io.SeekStart); err != nil {
			return nil, fmt.Errorf("aleph: store: seek: %w", err)
		}
		size = end - start
	}
	resp, rb, err := c.uploadFile(ctx, "/api/v0/ipfs/add_file", nil, r, size, p.Progress)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, newError(resp, rb)
	}
	var ar struct {
		Hash string `json:"hash"`
	}
	if err := json.Unmarshal(rb, &ar); err != nil || ar.Hash == "" {
		return nil, errors.New("aleph: ipfs add_file: answer without hash")
	}
	t := msgTime(p.Time)
	res, err := c.publish(ctx, s, message.TypeStore, storeContent(s, EngineIPFS, ar.Hash, p, t), p.Channel, p.Sync, t)
	if res != nil {
		res.FileHash = ar.Hash
	}
	return res, err
}
