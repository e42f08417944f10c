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

var volumeName = regexp.MustCompile(`[^\w-]`)

// load prepares the program p (content of message hash) for a backend.
func (s *Server) load(ctx context.Context, hash string, p *programContent) (*program, error) {
	pr := &program{hash: hash, owner: p.Address, content: p, latest: map[string]bool{}}
	ok := false
	defer func() {
		if !ok {
			pr.cleanup()
		}
	}()
	owner := p.Address
	fetch := func(what, ref string, latest bool) (string, string, error) {
		if latest {
			pr.latest[ref] = true
		}
		return s.fetchRef(ctx, what, ref, latest, owner)
	}

	// Runtime: the WASM marker, or a root file system for another backend.
	_, runtimePath, err := fetch("runtime", p.Runtime.Ref, p.Runtime.latest(true))
	if err != nil {
		return nil, err
	}
	wasm, err := isMarkerFile(runtimePath)
	if err != nil {
		return nil, err
	}
	name := "wasm"
	if !wasm {
		name = s.cfg.DefaultBackend
	}
	pr.backend = s.cfg.Backends[name]
	if pr.backend == nil {
		if wasm {
			return nil, errorf(http.StatusNotImplemented, "Program %s is a WASM program and this node has no wasm backend", hash)
		}
		return nil, errorf(http.StatusNotImplemented, "Program %s: runtime %s is not the WASM runtime marker, and this node runs no other runtime (no sandbox backend)", hash, p.Runtime.Ref)
	}
	iface := compute.WASM
	if !wasm {
		switch p.Code.Interface {
		case "asgi":
			iface = compute.ASGI
		case "binary", "executable":
			iface = compute.Executable
		case "":
			// The reference's rule: "module:app" is ASGI.
			iface = compute.Executable
			if strings.Contains(p.Code.Entrypoint, ":") {
				iface = compute.ASGI
			}
		default:
			return nil, errorf(http.StatusUnprocessableEntity, "Program %s: unknown code.interface %q (asgi or binary)", hash, p.Code.Interface)
		}
	}
	// A root file system comes as a squashfs image, unpacked once per
	// image for the sandbox, which binds a directory.
	var runtimeDir string
	if !wasm {
		if !isSquashfs(runtimePath) {
			return nil, errorf(http.StatusUnprocessableEntity, "Program %s: runtime %s is neither the WASM runtime marker nor a squashfs image", hash, p.Runtime.Ref)
		}
		if runtimeDir, err = s.cache.unsquash(ctx, filepath.Base(runtimePath), runtimePath); err != nil {
			return nil, err
		}
	}

	codeRef, codePath, err := fetch("code", p.Code.Ref, p.Code.UseLatest != nil && *p.Code.UseLatest)
	if err != nil {
		return nil, err
	}
	pr.codeRef = codeRef
	code := codePath
	switch {
	case p.Code.Encoding == "zip":
		dir, err := s.cache.unzip(filepath.Base(codePath), codePath)
		if err != nil {
			return nil, err
		}
		code = dir
		if wasm {
			ep := filepath.FromSlash(p.Code.Entrypoint)
			code = filepath.Join(dir, ep)
			if fi, err := os.Stat(code); !filepath.IsLocal(ep) || err != nil || !fi.Mode().IsRegular() {
				return nil, errorf(http.StatusUnprocessableEntity, "Program %s: entrypoint %q is not a file of the code", hash, p.Code.Entrypoint)
			}
		}
	case !wasm: // plain: the file alone in a directory, named by the entrypoint
		file, exec := p.Code.Entrypoint, iface == compute.Executable
		if iface == compute.ASGI {
			mod, _, _ := strings.Cut(p.Code.Entrypoint, ":")
			file = strings.ReplaceAll(mod, ".", "/") + ".py"
		}
		file = filepath.FromSlash(file)
		if !filepath.IsLocal(file) {
			return nil, errorf(http.StatusUnprocessableEntity, "Program %s: entrypoint %q does not name a file inside the code", hash, p.Code.Entrypoint)
		}
		if code, err = s.cache.codeDir(filepath.Base(codePath), codePath, file, exec); err != nil {
			return nil, err
		}
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

	// Data: always a zip archive, unpacked at /data (as the reference).
	if p.Data != nil && p.Data.Ref != "" {
		_, path, err := fetch("data", p.Data.Ref, p.Data.latest(false))
		if err != nil {
			return nil, err
		}
		dir, err := s.cache.unzip(filepath.Base(path), path)
		if err != nil {
			return nil, err
		}
		pr.spec.Volumes = append(pr.spec.Volumes, compute.Volume{Mount: "/data", Source: dir, ReadOnly: true})
	}
	for i, v := range p.Volumes {
		what := "volume " + strconv.Itoa(i)
		var vol compute.Volume
		switch {
		case v.Ref != "":
			_, path, err := fetch(what, v.Ref, v.UseLatest == nil || *v.UseLatest)
			if err != nil {
				return nil, err
			}
			src := path
			if isZip(path) {
				if src, err = s.cache.unzip(filepath.Base(path), path); err != nil {
					return nil, err
				}
			}
			vol = compute.Volume{Mount: v.Mount, Source: src, ReadOnly: true}
		case v.Ephemeral:
			dir, err := s.cache.tempDir("ephemeral-")
			if err != nil {
				return nil, err
			}
			pr.temp = append(pr.temp, dir)
			vol = compute.Volume{Mount: v.Mount, Source: dir}
		default: // persistent, on the host
			n := volumeName.ReplaceAllString(v.Name, "_")
			if n == "" {
				n = strconv.Itoa(i)
			}
			dir := filepath.Join(s.cfg.CacheDir, "volumes", hash, n)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			vol = compute.Volume{Mount: v.Mount, Source: dir}
		}
		pr.spec.Volumes = append(pr.spec.Volumes, vol)
	}
	ok = true
	return pr, nil
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
