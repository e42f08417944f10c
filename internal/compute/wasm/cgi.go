package wasm

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/goaleph/goaleph/internal/compute"
)

// ErrBadResponse is returned by Call when the program's standard output is
// not a CGI response; the node answers 502.
var ErrBadResponse = errors.New("program wrote a malformed response")

// environ is the CGI environment (RFC 3875 §4.1) of one request, then the
// program's variables. Request variables win over program variables of the
// same name: a program cannot be given a PATH_INFO that lies.
func environ(spec *compute.Spec, s *compute.Scope) [][2]string {
	env := [][2]string{
		{"GATEWAY_INTERFACE", "CGI/1.1"},
		{"SERVER_PROTOCOL", "HTTP/1.1"},
		{"SERVER_SOFTWARE", "goaleph"},
		{"REQUEST_METHOD", s.Method},
		{"SCRIPT_NAME", ""},
		{"PATH_INFO", s.Path},
		{"QUERY_STRING", s.QueryString},
		{"CONTENT_LENGTH", strconv.Itoa(len(s.Body))},
		{"ALEPH_SCOPE_TYPE", s.Type},
		{"ALEPH_PROGRAM_HASH", spec.ProgramHash},
	}
	// Headers, in order; repeated ones joined as HTTP allows (RFC 9110
	// §5.3; cookies with "; ", RFC 6265 §5.4).
	index := map[string]int{}
	for _, h := range s.Headers {
		name := strings.ToLower(h[0])
		if !validToken(name) || strings.ContainsRune(h[1], 0) {
			continue
		}
		var key string
		switch name {
		case "content-length": // CONTENT_LENGTH is the body's actual length
			continue
		case "proxy": // httpoxy: HTTP_PROXY would be taken for a proxy setting
			continue
		case "content-type":
			key = "CONTENT_TYPE"
		default:
			key = "HTTP_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		}
		if i, ok := index[key]; ok {
			sep := ", "
			if name == "cookie" {
				sep = "; "
			}
			env[i][1] += sep + h[1]
			continue
		}
		index[key] = len(env)
		env = append(env, [2]string{key, h[1]})
	}
	names := make([]string, 0, len(spec.Variables))
	for k := range spec.Variables {
		names = append(names, k)
	}
	sort.Strings(names)
	taken := make(map[string]bool, len(env))
	for _, kv := range env {
		taken[kv[0]] = true
	}
	for _, k := range names {
		if !taken[k] {
			env = append(env, [2]string{k, spec.Variables[k]})
		}
	}
	return env
}

// validVariable reports whether k=v can be passed in a WASI environment.
func validVariable(k, v string) bool {
	return k != "" && !strings.ContainsAny(k, "=\x00") && !strings.ContainsRune(v, 0)
}

// parseResponse reads a CGI response (RFC 3875 §6): header lines ending
// with LF or CRLF, a blank line, the body. "Status: NNN reason" gives the
// status (default 200, or 302 with a Location header); header names are
// lowercased. Output without a header block is ErrBadResponse.
func parseResponse(out []byte) (*compute.Response, error) {
	resp := &compute.Response{}
	rest := out
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			if len(resp.Headers) == 0 && resp.Status == 0 {
				return nil, fmt.Errorf("%w: no header block (%s)", ErrBadResponse, excerpt(out))
			}
			return nil, fmt.Errorf("%w: no blank line after the headers", ErrBadResponse)
		}
		line := rest[:i]
		rest = rest[i+1:]
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !validToken(string(name)) {
			return nil, fmt.Errorf("%w: bad header line %s", ErrBadResponse, excerpt(line))
		}
		k := strings.ToLower(string(name))
		v := string(bytes.Trim(value, " \t"))
		if k == "status" {
			code, _, _ := strings.Cut(v, " ")
			n, err := strconv.Atoi(code)
			if err != nil || len(code) != 3 || n < 100 {
				return nil, fmt.Errorf("%w: bad status %q", ErrBadResponse, v)
			}
			resp.Status = n
			continue
		}
		resp.Headers = append(resp.Headers, [2]string{k, v})
	}
	if len(resp.Headers) == 0 && resp.Status == 0 {
		return nil, fmt.Errorf("%w: empty header block", ErrBadResponse)
	}
	if resp.Status == 0 {
		resp.Status = 200
		for _, h := range resp.Headers {
			if h[0] == "location" {
				resp.Status = 302
			}
		}
	}
	resp.Body = rest
	return resp, nil
}

// validToken reports whether s is an HTTP token (RFC 9110 §5.6.2), the
// form of a header name.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// excerpt quotes the start of b for an error message.
func excerpt(b []byte) string {
	if len(b) > 64 {
		return strconv.Quote(string(b[:64])) + "…"
	}
	return strconv.Quote(string(b))
}
