package crn

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/goaleph/goaleph/message"
)

// WASMRuntimeMarker is the content of the runtime file of a WASI program:
// a PROGRAM whose runtime.ref is a STORE of a file holding this text
// (surrounding white space ignored) runs on the "wasm" backend.
const WASMRuntimeMarker = "goaleph-runtime: wasm (WASI preview 1, CGI)\n"

// isWASMMarker reports whether b is the WASM runtime marker.
func isWASMMarker(b []byte) bool {
	return bytes.Equal(bytes.TrimSpace(b), bytes.TrimSpace([]byte(WASMRuntimeMarker)))
}

// ref is a reference to a STORE, with its use_latest default.
type ref struct {
	Ref       string `json:"ref"`
	UseLatest *bool  `json:"use_latest"`
	Encoding  string `json:"encoding"`
	Mount     string `json:"mount"`
}

func (r *ref) latest(def bool) bool {
	if r.UseLatest == nil {
		return def
	}
	return *r.UseLatest
}

// volume is one entry of content.volumes.
type volume struct {
	Comment     string `json:"comment"`
	Mount       string `json:"mount"`
	Ref         string `json:"ref"`
	UseLatest   *bool  `json:"use_latest"`
	Ephemeral   bool   `json:"ephemeral"`
	SizeMiB     int64  `json:"size_mib"`
	Persistence string `json:"persistence"`
	Name        string `json:"name"`
	Parent      *ref   `json:"parent"`
}

// programContent is what the compute node reads of a PROGRAM content
// (aleph-message's ProgramContent, spec §2).
type programContent struct {
	Address string `json:"address"`
	Type    string `json:"type"`
	Code    struct {
		Encoding   string `json:"encoding"`
		Entrypoint string `json:"entrypoint"`
		Ref        string `json:"ref"`
		Interface  string `json:"interface"`
		UseLatest  *bool  `json:"use_latest"`
	} `json:"code"`
	Runtime     *ref              `json:"runtime"`
	Data        *ref              `json:"data"`
	Variables   map[string]string `json:"variables"`
	Environment struct {
		Internet bool `json:"internet"`
	} `json:"environment"`
	Resources struct {
		VCPUs   int   `json:"vcpus"`
		Memory  int64 `json:"memory"`
		Seconds int64 `json:"seconds"`
	} `json:"resources"`
	Volumes []volume `json:"volumes"`
}

// parseProgram reads a PROGRAM content and checks what the node needs.
func parseProgram(hash string, raw json.RawMessage) (*programContent, error) {
	var p programContent
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, wrap(http.StatusUnprocessableEntity, err, "Program %s has a malformed content", hash)
	}
	bad := func(format string, args ...any) error {
		return errorf(http.StatusUnprocessableEntity, "Program %s: "+format, append([]any{hash}, args...)...)
	}
	switch {
	case p.Runtime == nil || p.Runtime.Ref == "":
		return nil, bad("missing runtime")
	case !message.ValidHash(p.Runtime.Ref):
		return nil, bad("runtime.ref %q is not an item hash", p.Runtime.Ref)
	case p.Code.Ref == "" || !message.ValidHash(p.Code.Ref):
		return nil, bad("code.ref %q is not an item hash", p.Code.Ref)
	case p.Code.Entrypoint == "":
		return nil, bad("missing code.entrypoint")
	}
	switch p.Code.Encoding {
	case "plain", "zip":
	case "squashfs":
		return nil, errorf(http.StatusNotImplemented, "Program %s: code.encoding squashfs is not supported by this node yet", hash)
	default:
		return nil, bad("unknown code.encoding %q", p.Code.Encoding)
	}
	if p.Data != nil && p.Data.Ref != "" {
		if !message.ValidHash(p.Data.Ref) {
			return nil, bad("data.ref %q is not an item hash", p.Data.Ref)
		}
		if p.Data.Encoding != "" && p.Data.Encoding != "zip" && p.Data.Encoding != "plain" {
			return nil, errorf(http.StatusNotImplemented, "Program %s: data.encoding %s is not supported by this node yet", hash, p.Data.Encoding)
		}
	}
	for i, v := range p.Volumes {
		switch {
		case v.Ref != "":
			if !message.ValidHash(v.Ref) {
				return nil, bad("volume %d: ref %q is not an item hash", i, v.Ref)
			}
		case v.Ephemeral:
		case v.Persistence != "":
			if v.Persistence != "host" {
				return nil, errorf(http.StatusNotImplemented, "Program %s: volume %d: persistence %q is not supported (only host)", hash, i, v.Persistence)
			}
			if v.Parent != nil && v.Parent.Ref != "" {
				return nil, errorf(http.StatusNotImplemented, "Program %s: volume %d: persistent volumes with a parent are not supported yet", hash, i)
			}
		default:
			return nil, bad("volume %d is neither immutable, ephemeral nor persistent", i)
		}
		if v.Mount == "" || !strings.HasPrefix(v.Mount, "/") {
			return nil, bad("volume %d: mount %q must be an absolute path", i, v.Mount)
		}
	}
	if p.Resources.VCPUs <= 0 {
		p.Resources.VCPUs = 1
	}
	if p.Resources.Memory <= 0 {
		p.Resources.Memory = 128
	}
	if p.Resources.Seconds <= 0 {
		p.Resources.Seconds = 1
	}
	return &p, nil
}

// timeout is the per-request deadline, resources.seconds.
func (p *programContent) timeout() time.Duration {
	return time.Duration(p.Resources.Seconds) * time.Second
}
