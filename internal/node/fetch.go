package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/message"
)

// Fetcher brings content the node misses from elsewhere (its peers). The
// node calls it when a message waits for a content or STORE file that is
// not in the local file store, re-hashes what it returns and stores it.
// Implementations must be safe for concurrent use; internal/p2p provides
// one over the HTTP API of the known peers.
type Fetcher interface {
	// Fetch returns the bytes of the file with this hash (sha256 hex or
	// CID), or an error when no peer has it. The caller closes the reader.
	Fetch(ctx context.Context, hash string) (io.ReadCloser, error)
}

// fetchTimeout bounds one attempt to fetch a missing file; a message that
// still waits retries (and fetches again) on its own schedule.
const fetchTimeout = 2 * time.Minute

// fetchMissing starts fetching the file a retried item waits for, when it
// is a content or STORE file and a Fetcher is configured. It does not
// block: the writer calls it. Once the file is stored, the items waiting
// on its hash are woken.
func (n *Node) fetchMissing(o outcome) {
	if n.cfg.Fetcher == nil || o.wait == "" {
		return
	}
	var limit int64
	switch message.CodeOf(o.err) {
	case message.CodeContentUnavailable:
		limit = maxContentSize
	case message.CodeFileUnavailable:
		limit = max(n.cfg.Limits.MaxFileSize, n.cfg.Limits.MaxIPFSFileSize)
	default:
		return
	}
	hash := o.wait
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
		defer cancel()
		go func() {
			select {
			case <-n.stopped:
				cancel()
			case <-ctx.Done():
			}
		}()
		switch err := n.fetchFile(ctx, hash, limit); {
		case errors.Is(err, errHashMismatch):
			n.log.Warn("a peer sent content that does not match its hash", "hash", hash)
		case err != nil:
			n.log.Debug("fetch from peers", "hash", hash, "err", err)
		}
	}()
}

// errHashMismatch is returned when a peer sends bytes of another hash.
var errHashMismatch = errors.New("fetched content does not match its hash")

// fetchFile fetches hash through the Fetcher into a temporary file,
// checks that the bytes hash to it, adds them to the file store with a
// grace-period pin (the message that needs the file pins it for good once
// processed) and wakes the messages waiting for it.
func (n *Node) fetchFile(ctx context.Context, hash string, limit int64) error {
	if ok, err := n.files.Has(ctx, hash); err != nil || ok {
		if ok {
			n.wake(hash)
		}
		return err
	}
	engine, err := files.EngineOf(hash)
	if err != nil {
		return err
	}
	rc, err := n.cfg.Fetcher.Fetch(ctx, hash)
	if err != nil {
		return err
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(n.cfg.DataDir, "fetch-*")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	sum := sha256.New()
	size, err := io.Copy(io.MultiWriter(tmp, sum), io.LimitReader(rc, limit+1))
	if err != nil {
		return fmt.Errorf("download %s: %w", hash, err)
	}
	if size > limit {
		return fmt.Errorf("download %s: larger than %d bytes", hash, limit)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	opts := files.AddOptions{MaxSize: limit}
	if engine == files.Native {
		if hex.EncodeToString(sum.Sum(nil)) != hash {
			return errHashMismatch
		}
	} else {
		if !strings.HasPrefix(hash, "Qm") {
			opts.CIDVersion = 1
		}
		c, err := files.CID(tmp, opts.CIDVersion)
		if err != nil {
			return err
		}
		if c != hash {
			return errHashMismatch
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	info, err := n.files.Add(ctx, engine, tmp, opts)
	if err != nil {
		return err
	}
	if info.Hash != hash {
		return errHashMismatch
	}
	// PinUpload records the file with a grace pin and wakes its waiters.
	return n.PinUpload(ctx, info)
}
