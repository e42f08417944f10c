package p2p

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	cid "github.com/ipfs/go-cid"

	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/message"
)

// ErrNotFound is returned by Fetch when no peer has the content.
var ErrNotFound = errors.New("content not found on any peer")

// maxConcurrentFetches is the reference node's fetch concurrency.
const maxConcurrentFetches = 10

// maxJSONContent bounds the JSON storage endpoint's answer (100 MiB of
// content, base64).
const maxJSONContent = 140 << 20

// Fetch returns the content of hash from the peers. An IPFS file (a CID)
// is first asked of the connected peers over bitswap, when it runs (see
// bitswap.go). Otherwise, or if none sends it, the content comes from the
// first HTTP peer that has it: GET {peer}/api/v0/storage/raw/{hash}, or
// the JSON form /api/v0/storage/{hash} (base64) for peers without the raw
// route. The caller re-hashes what it reads (the node does, see
// node.Fetcher) and closes the reader; at most 10 fetches run at once.
func (s *Service) Fetch(ctx context.Context, hash string) (io.ReadCloser, error) {
	if !message.ValidHash(hash) {
		return nil, fmt.Errorf("fetch %q: malformed hash", hash)
	}
	select {
	case s.fetchSem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	release := func() { <-s.fetchSem }
	var errs []error
	notFound := ErrNotFound
	if bs := s.bitswap(); bs != nil {
		if engine, err := files.EngineOf(hash); err == nil && engine == files.IPFS {
			c, err := cid.Decode(hash)
			if err == nil {
				var body io.ReadCloser
				body, err = s.fetchBitswap(ctx, bs, c)
				if err == nil {
					s.bitswapFetches.WithLabelValues("found").Inc()
					return &releaseReader{ReadCloser: body, release: release}, nil
				}
			}
			if ctx.Err() != nil {
				release()
				return nil, ctx.Err()
			}
			if errors.Is(err, ErrNotFound) {
				s.bitswapFetches.WithLabelValues("not_found").Inc()
				notFound = err
			} else {
				s.bitswapFetches.WithLabelValues("error").Inc()
				errs = append(errs, err)
			}
		}
	}
	for _, base := range s.peers.fetchOrder() {
		if base == s.selfURL {
			continue
		}
		body, err := s.fetchFrom(ctx, base, hash)
		if err == nil {
			s.m.fetches.WithLabelValues("found").Inc()
			return &releaseReader{ReadCloser: body, release: release}, nil
		}
		if ctx.Err() != nil {
			release()
			return nil, ctx.Err()
		}
		if !errors.Is(err, ErrNotFound) {
			errs = append(errs, fmt.Errorf("%s: %w", base, err))
		}
	}
	release()
	if len(errs) > 0 {
		s.m.fetches.WithLabelValues("error").Inc()
		return nil, fmt.Errorf("fetch %s: %w", hash, errors.Join(errs...))
	}
	s.m.fetches.WithLabelValues("not_found").Inc()
	return nil, fmt.Errorf("fetch %s: %w", hash, notFound)
}

func (s *Service) fetchFrom(ctx context.Context, base, hash string) (io.ReadCloser, error) {
	resp, err := s.get(ctx, base+"/api/v0/storage/raw/"+hash)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Body, nil
	case http.StatusNotFound:
		resp.Body.Close()
		return nil, ErrNotFound
	}
	resp.Body.Close()
	// Older peers have only the JSON route.
	resp, err = s.get(ctx, base+"/api/v0/storage/"+hash)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, ErrNotFound
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	var body struct {
		Content string `json:"content"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJSONContent)).Decode(&body); err != nil {
		return nil, err
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(body.Content))
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(raw)), nil
}

func (s *Service) get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return s.client.Do(req)
}

// releaseReader frees a fetch slot when the download is closed.
type releaseReader struct {
	io.ReadCloser
	release func()
	done    bool
}

func (r *releaseReader) Close() error {
	err := r.ReadCloser.Close()
	if !r.done {
		r.done = true
		r.release()
	}
	return err
}
