package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
)

// runGC deletes files that no pin keeps, every GCPeriod.
func (n *Node) runGC(ctx context.Context) error {
	t := time.NewTicker(n.cfg.GCPeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := n.CollectGarbage(ctx, time.Now()); err != nil && ctx.Err() == nil {
				n.log.Error("garbage collection", "err", err)
			}
		}
	}
}

// CollectGarbage drops grace pins expired at now and deletes the files left
// without pins. It returns the number of files deleted.
func (n *Node) CollectGarbage(ctx context.Context, now time.Time) (int, error) {
	ts := float64(now.UnixNano()) / 1e9
	deleted := 0
	for {
		var batch []store.File
		err := n.store.Update(ctx, func(tx store.Tx) error {
			if _, err := tx.DeleteExpiredGrace(ts); err != nil {
				return err
			}
			fs, err := tx.Unpinned(ctx, ts, 500)
			if err != nil {
				return err
			}
			for _, f := range fs {
				if err := tx.DeleteFile(f.Hash); err != nil {
					return err
				}
			}
			batch = fs
			return nil
		})
		if err != nil {
			return deleted, err
		}
		// Rows go first: a crash between the two leaves an orphan file
		// on disk, never a row pointing at a missing file.
		for _, f := range batch {
			if err := n.files.Delete(ctx, f.Hash); err != nil {
				n.log.Warn("delete file", "hash", f.Hash, "err", err)
				continue
			}
			deleted++
			n.metrics.gcDeleted.Inc()
		}
		if len(batch) < 500 {
			break
		}
	}
	orphans, err := n.collectOrphans(ctx, now)
	deleted += orphans
	if deleted > 0 {
		n.log.Info("garbage collected", "files", deleted, "orphans", orphans)
	}
	return deleted, err
}

// collectOrphans deletes the stored files that no file row names and that
// were added more than a grace period before now: what a crash between
// storing an upload and recording it, or a failed clean-up, left behind.
// The grace period spares uploads whose row is about to be written (adding
// an already stored file renews its time, see files.Store.ModTime).
func (n *Node) collectOrphans(ctx context.Context, now time.Time) (int, error) {
	cutoff := now.Add(-n.cfg.GracePeriod)
	deleted := 0
	for hash, err := range n.files.Hashes(ctx) {
		if err != nil {
			return deleted, fmt.Errorf("walk stored files: %w", err)
		}
		mt, err := n.files.ModTime(ctx, hash)
		if errors.Is(err, files.ErrNotFound) {
			continue // deleted during the walk
		}
		if err != nil {
			return deleted, err
		}
		if mt.After(cutoff) {
			continue
		}
		if _, err := n.store.File(ctx, hash); !errors.Is(err, store.ErrNotFound) {
			if err != nil {
				return deleted, err
			}
			continue
		}
		if err := n.files.Delete(ctx, hash); err != nil {
			n.log.Warn("delete orphan file", "hash", hash, "err", err)
			continue
		}
		deleted++
		n.metrics.gcDeleted.Inc()
	}
	return deleted, nil
}
