package crn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/goaleph/goaleph/client"
	"github.com/goaleph/goaleph/internal/compute"
	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/message"
)

// program is a PROGRAM message made ready for a backend: refs resolved,
// files downloaded and verified, the spec built.
type program struct {
	hash    string
	owner   string
	content *programContent
	codeRef string // code ref after use_latest
	backend compute.Backend
	spec    compute.Spec
	// latest are the refs resolved with use_latest: a newer STORE amend
	// of one of them by the owner makes the program stale.
	latest map[string]bool
	// temp are directories to remove when the execution stops
	// (ephemeral volumes).
	temp []string
}

// fetchMessage returns the content and sender of the PROGRAM message hash.
func (s *Server) fetchMessage(ctx context.Context, hash string) (*programContent, error) {
	res, err := s.cfg.Client.Message(ctx, hash)
	if errors.Is(err, client.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "Item hash %s not found", hash)
	}
	if err != nil {
		return nil, wrap(http.StatusBadGateway, err, "Cannot read message %s from the core node", hash)
	}
	switch res.Status {
	case client.StatusProcessed, client.StatusRemoving:
	case client.StatusPending:
		return nil, errorf(http.StatusServiceUnavailable, "Message %s is still pending on the core node", hash)
	case client.StatusForgotten:
		return nil, errorf(http.StatusGone, "Message %s was forgotten", hash)
	default:
		return nil, errorf(http.StatusNotFound, "Message %s is %s on the core node", hash, res.Status)
	}
	if res.Message == nil {
		return nil, errorf(http.StatusBadGateway, "The core node gave no message for %s", hash)
	}
	if res.Message.Type != message.TypeProgram {
		return nil, errorf(http.StatusBadRequest, "Message %s is a %s, not a PROGRAM", hash, res.Message.Type)
	}
	p, err := parseProgram(hash, res.Message.Content)
	if err != nil {
		return nil, err
	}
	if p.Address == "" {
		p.Address = res.Message.Sender
	}
	return p, nil
}

// fetchRef resolves ref (a STORE message, or a file hash as the core node
// also accepts) and returns the resolved STORE hash and the path of the
// verified file. what names the ref in errors ("code", "volume 0"…).
func (s *Server) fetchRef(ctx context.Context, what, ref string, useLatest bool, owner string) (resolved, path string, err error) {
	resolved, fileHash, err := s.resolve(ctx, what, ref, useLatest, owner)
	if err != nil {
		return "", "", err
	}
	path, err = s.cache.file(ctx, fileHash)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return "", "", &Error{Status: e.Status, Reason: what + " " + ref + ": " + e.Reason, Err: e.Err}
		}
		return "", "", wrap(http.StatusInternalServerError, err, "%s %s", what, ref)
	}
	return resolved, path, nil
}

func (s *Server) resolve(ctx context.Context, what, ref string, useLatest bool, owner string) (string, string, error) {
	res, err := s.cfg.Client.Message(ctx, ref)
	if errors.Is(err, client.ErrNotFound) {
		if _, e := files.EngineOf(ref); e == nil {
			return ref, ref, nil // maybe a file hash: the download tells
		}
		return "", "", errorf(http.StatusBadRequest, "Code, runtime or data not available: %s %s not found", what, ref)
	}
	if err != nil {
		return "", "", wrap(http.StatusBadGateway, err, "Cannot read %s %s from the core node", what, ref)
	}
	if res.Status != client.StatusProcessed && res.Status != client.StatusRemoving {
		return "", "", errorf(http.StatusBadRequest, "Code, runtime or data not available: %s %s is %s", what, ref, res.Status)
	}
	if res.Message == nil || res.Message.Type != message.TypeStore {
		typ := "unknown"
		if res.Message != nil {
			typ = string(res.Message.Type)
		}
		return "", "", errorf(http.StatusBadRequest, "%s %s is a %s message, not a STORE", what, ref, typ)
	}
	content, resolved := res.Message.Content, ref
	if useLatest {
		page, err := s.cfg.Client.Messages(ctx, client.MessageFilter{Types: []message.Type{message.TypeStore},
			Refs: []string{ref}, Owners: []string{owner}, Pagination: 1})
		if err != nil {
			return "", "", wrap(http.StatusBadGateway, err, "Cannot resolve the latest %s %s", what, ref)
		}
		if len(page.Messages) > 0 && len(page.Messages[0].Content) > 0 {
			content, resolved = page.Messages[0].Content, page.Messages[0].ItemHash
		}
	}
	var sc struct {
		ItemHash string `json:"item_hash"`
	}
	if json.Unmarshal(content, &sc) != nil || sc.ItemHash == "" {
		return "", "", errorf(http.StatusBadGateway, "STORE %s (%s) names no file", resolved, what)
	}
	return resolved, sc.ItemHash, nil
}

// load prepares the program p (content of message hash) for a backend:
// the runtime picks the backend and the interface, then the code, the
// data and the volumes are fetched and unpacked into the spec. On an
// error, what it made (ephemeral volumes) is removed.
func (s *Server) load(ctx context.Context, hash string, p *programContent) (*program, error) {
	pr := &program{hash: hash, owner: p.Address, content: p, latest: map[string]bool{}}
	ok := false
	defer func() {
		if !ok {
			pr.cleanup()
		}
	}()
	wasm, runtimePath, err := s.loadRuntime(ctx, pr)
	if err != nil {
		return nil, err
	}
	iface, err := pr.codeInterface(wasm)
	if err != nil {
		return nil, err
	}
	var runtimeDir string
	if !wasm {
		if runtimeDir, err = s.unpackRuntime(ctx, pr, runtimePath); err != nil {
			return nil, err
		}
	}
	code, err := s.loadCode(ctx, pr, wasm, iface)
	if err != nil {
		return nil, err
	}
	pr.spec = compute.Spec{
		ProgramHash: hash, Interface: iface, Code: code, Variables: p.Variables,
		MemoryMiB: int(p.Resources.Memory), VCPUs: p.Resources.VCPUs, Timeout: p.timeout(),
		Internet: p.Environment.Internet,
	}
	if iface != compute.WASM {
		pr.spec.Entrypoint = p.Code.Entrypoint
		pr.spec.Runtime = runtimeDir
	}
	if err := s.loadVolumes(ctx, pr); err != nil {
		return nil, err
	}
	ok = true
	return pr, nil
}

// fetch resolves and downloads a ref of the program as its owner,
// remembering the refs followed with use_latest (they make it stale when
// amended).
func (s *Server) fetch(ctx context.Context, pr *program, what, ref string, latest bool) (resolved, path string, err error) {
	if latest {
		pr.latest[ref] = true
	}
	return s.fetchRef(ctx, what, ref, latest, pr.owner)
}

// loadRuntime fetches the runtime and picks the backend: the WASM marker
// runs on the wasm backend, a root file system on the default one. It
// answers 501 when this node has no such backend.
func (s *Server) loadRuntime(ctx context.Context, pr *program) (wasm bool, runtimePath string, err error) {
	p := pr.content
	_, runtimePath, err = s.fetch(ctx, pr, "runtime", p.Runtime.Ref, p.Runtime.latest(true))
	if err != nil {
		return false, "", err
	}
	if wasm, err = isMarkerFile(runtimePath); err != nil {
		return false, "", err
	}
	name := "wasm"
	if !wasm {
		name = s.cfg.DefaultBackend
	}
	pr.backend = s.cfg.Backends[name]
	if pr.backend == nil {
		if wasm {
			return false, "", errorf(http.StatusNotImplemented, "Program %s is a WASM program and this node has no wasm backend", pr.hash)
		}
		return false, "", errorf(http.StatusNotImplemented, "Program %s: runtime %s is not the WASM runtime marker, and this node runs no other runtime (no sandbox backend)", pr.hash, p.Runtime.Ref)
	}
	return wasm, runtimePath, nil
}

// codeInterface is how the program is reached: WASM for a WASM runtime,
// else code.interface, or when absent the reference's rule that a
// "module:app" entrypoint is ASGI.
func (pr *program) codeInterface(wasm bool) (compute.Interface, error) {
	if wasm {
		return compute.WASM, nil
	}
	c := pr.content.Code
	switch c.Interface {
	case "asgi":
		return compute.ASGI, nil
	case "binary", "executable":
		return compute.Executable, nil
	case "":
		if strings.Contains(c.Entrypoint, ":") {
			return compute.ASGI, nil
		}
		return compute.Executable, nil
	}
	return "", errorf(http.StatusUnprocessableEntity, "Program %s: unknown code.interface %q (asgi or binary)", pr.hash, c.Interface)
}

// unpackRuntime unpacks a root file system, which comes as a squashfs
// image, once per image: the sandbox binds a directory.
func (s *Server) unpackRuntime(ctx context.Context, pr *program, runtimePath string) (string, error) {
	if !isSquashfs(runtimePath) {
		return "", errorf(http.StatusUnprocessableEntity, "Program %s: runtime %s is neither the WASM runtime marker nor a squashfs image", pr.hash, pr.content.Runtime.Ref)
	}
	return s.cache.unsquash(ctx, filepath.Base(runtimePath), runtimePath)
}

// loadCode fetches the code and returns what the spec's Code is: for a
// zip, the unpacked directory (a WASM program: the entrypoint's file in
// it); for a plain file, the file (WASM) or a directory holding it alone,
// named by the entrypoint. An entrypoint outside the code is a 422.
func (s *Server) loadCode(ctx context.Context, pr *program, wasm bool, iface compute.Interface) (string, error) {
	c := pr.content.Code
	codeRef, codePath, err := s.fetch(ctx, pr, "code", c.Ref, c.UseLatest != nil && *c.UseLatest)
	if err != nil {
		return "", err
	}
	pr.codeRef = codeRef
	switch {
	case c.Encoding == "zip":
		dir, err := s.cache.unzip(filepath.Base(codePath), codePath)
		if err != nil || !wasm {
			return dir, err
		}
		ep := filepath.FromSlash(c.Entrypoint)
		code := filepath.Join(dir, ep)
		if fi, err := os.Stat(code); !filepath.IsLocal(ep) || err != nil || !fi.Mode().IsRegular() {
			return "", errorf(http.StatusUnprocessableEntity, "Program %s: entrypoint %q is not a file of the code", pr.hash, c.Entrypoint)
		}
		return code, nil
	case !wasm:
		file, exec := c.Entrypoint, iface == compute.Executable
		if iface == compute.ASGI {
			mod, _, _ := strings.Cut(c.Entrypoint, ":")
			file = strings.ReplaceAll(mod, ".", "/") + ".py"
		}
		file = filepath.FromSlash(file)
		if !filepath.IsLocal(file) {
			return "", errorf(http.StatusUnprocessableEntity, "Program %s: entrypoint %q does not name a file inside the code", pr.hash, c.Entrypoint)
		}
		return s.cache.codeDir(filepath.Base(codePath), codePath, file, exec)
	}
	return codePath, nil
}

// loadVolumes adds the data archive (unpacked, read-only at /data, as
// the reference) and the program's volumes to the spec.
func (s *Server) loadVolumes(ctx context.Context, pr *program) error {
	p := pr.content
	if p.Data != nil && p.Data.Ref != "" {
		_, path, err := s.fetch(ctx, pr, "data", p.Data.Ref, p.Data.latest(false))
		if err != nil {
			return err
		}
		dir, err := s.cache.unzip(filepath.Base(path), path)
		if err != nil {
			return err
		}
		pr.spec.Volumes = append(pr.spec.Volumes, compute.Volume{Mount: "/data", Source: dir, ReadOnly: true})
	}
	for i, v := range p.Volumes {
		vol, err := s.loadVolume(ctx, pr, i, v)
		if err != nil {
			return err
		}
		pr.spec.Volumes = append(pr.spec.Volumes, vol)
	}
	return nil
}

var volumeName = regexp.MustCompile(`[^\w-]`)

// loadVolume makes volume i: an immutable one fetched (unpacked when a
// zip), an ephemeral one as a temporary directory removed with the
// program, a persistent one as a host directory kept per program and name.
func (s *Server) loadVolume(ctx context.Context, pr *program, i int, v volume) (compute.Volume, error) {
	switch {
	case v.Ref != "":
		_, path, err := s.fetch(ctx, pr, "volume "+strconv.Itoa(i), v.Ref, v.UseLatest == nil || *v.UseLatest)
		if err != nil {
			return compute.Volume{}, err
		}
		src := path
		if isZip(path) {
			if src, err = s.cache.unzip(filepath.Base(path), path); err != nil {
				return compute.Volume{}, err
			}
		}
		return compute.Volume{Mount: v.Mount, Source: src, ReadOnly: true}, nil
	case v.Ephemeral:
		dir, err := s.cache.tempDir("ephemeral-")
		if err != nil {
			return compute.Volume{}, err
		}
		pr.temp = append(pr.temp, dir)
		return compute.Volume{Mount: v.Mount, Source: dir}, nil
	default: // persistent, on the host
		n := volumeName.ReplaceAllString(v.Name, "_")
		if n == "" {
			n = strconv.Itoa(i)
		}
		dir := filepath.Join(s.cfg.CacheDir, "volumes", pr.hash, n)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return compute.Volume{}, err
		}
		return compute.Volume{Mount: v.Mount, Source: dir}, nil
	}
}

func (pr *program) cleanup() {
	for _, d := range pr.temp {
		os.RemoveAll(d)
	}
}

// isMarkerFile reports whether the file at path is the WASM runtime marker.
func isMarkerFile(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4*int64(len(WASMRuntimeMarker))))
	if err != nil {
		return false, err
	}
	return isWASMMarker(b), nil
}

// isZip reports whether the file at path starts like a zip archive.
func isZip(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 4)
	_, err = io.ReadFull(f, b)
	return err == nil && bytes.Equal(b, []byte("PK\x03\x04"))
}
