package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/goaleph/goaleph/internal/files"
	"github.com/goaleph/goaleph/internal/store"
)

// runGC deletes files that no pin keeps, every GCPeriod, and prunes
// rejected records every rejectedPrunePeriod (or GCPeriod when shorter):
// often, so that a flood of rejected messages cannot outgrow the cap by
// more than what the pipeline rejects in that time.
func (n *Node) runGC(ctx context.Context) error {
	t := time.NewTicker(n.cfg.GCPeriod)
	defer t.Stop()
	r := time.NewTicker(min(n.cfg.GCPeriod, rejectedPrunePeriod))
	defer r.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := n.CollectGarbage(ctx, time.Now()); err != nil && ctx.Err() == nil {
				n.log.Error("garbage collection", "err", err)
			}
		case <-r.C:
			if _, err := n.PruneRejected(ctx, time.Now()); err != nil && ctx.Err() == nil {
				n.log.Error("prune rejected records", "err", err)
			}
		}
	}
}

// rejectedPrunePeriod is the interval between prunings of rejected records.
const rejectedPrunePeriod = time.Minute

// rejectedPruneBatch is how many rejected records one transaction deletes,
// so that pruning a large backlog never holds the writer for long.
const rejectedPruneBatch = 1000

// RejectedConfig bounds what the node keeps of the messages it rejects
// (see docs/design/0008-hostile-input.md). A rejected record only informs
// whoever asks about the hash; it decides nothing (a valid copy sent later
// is processed whether or not the record is still there), so expiring it
// by the node's own clock is safe.
type RejectedConfig struct {
	// Retention is how long a rejected record is kept after the message
	// was rejected. Default 7 days; negative: no expiry by age.
	Retention time.Duration
	// Max is the number of rejected records kept at most, the oldest
	// pruned first. Default 100,000; negative: no cap.
	Max int
}

func (c RejectedConfig) retention() time.Duration {
	if c.Retention == 0 {
		return DefaultRejectedRetention
	}
	return c.Retention
}

func (c RejectedConfig) max() int {
	if c.Max == 0 {
		return DefaultMaxRejected
	}
	return c.Max
}

// PruneRejected deletes the rejected records older than the retention at
// now and the oldest beyond the cap, in batches. It returns how many it
// deleted.
func (n *Node) PruneRejected(ctx context.Context, now time.Time) (int, error) {
	before := 0.0
	if ret := n.cfg.Rejected.retention(); ret > 0 {
		before = float64(now.Add(-ret).UnixNano()) / 1e9
	}
	keep := n.cfg.Rejected.max()
	total := 0
	for {
		var deleted int
		err := n.store.Update(ctx, func(tx store.Tx) error {
			var err error
			deleted, err = tx.PruneRejected(before, keep, rejectedPruneBatch)
			return err
		})
		if err != nil {
			return total, err
		}
		total += deleted
		n.metrics.rejectedPruned.Add(float64(deleted))
		if deleted < rejectedPruneBatch || ctx.Err() != nil {
			break
		}
	}
	if total > 0 {
		n.log.Info("pruned rejected records", "count", total)
	}
	return total, nil
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
