package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/goaleph/goaleph/internal/store"
)

// confirmationChunk bounds the hashes of one confirmations query (SQLite
// limits the number of bound parameters).
const confirmationChunk = 500

func (r reader) ChainSync(ctx context.Context, chain string) (*store.ChainSync, error) {
	c := store.ChainSync{Chain: chain}
	var h int64
	err := r.q.QueryRowContext(ctx, `SELECT height, block_hash FROM chains_sync_status WHERE chain = ?`, chain).Scan(&h, &c.BlockHash)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	c.Height = uint64(h)
	return &c, nil
}

func (r reader) Confirmations(ctx context.Context, hashes []string) (map[string][]store.Confirmation, error) {
	out := map[string][]store.Confirmation{}
	for len(hashes) > 0 {
		part := hashes[:min(len(hashes), confirmationChunk)]
		hashes = hashes[len(part):]
		rows, err := r.q.QueryContext(ctx, `SELECT item_hash, chain, tx_hash, height, block_hash, time FROM message_confirmations
			WHERE item_hash IN (`+placeholders(len(part))+`) ORDER BY item_hash, chain, height, tx_hash`, anys(part)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var c store.Confirmation
			var h int64
			if err := rows.Scan(&c.ItemHash, &c.Chain, &c.TxHash, &h, &c.BlockHash, &c.Time); err != nil {
				rows.Close()
				return nil, err
			}
			c.Height = uint64(h)
			out[c.ItemHash] = append(out[c.ItemHash], c)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *tx) SetChainSync(c *store.ChainSync) error {
	_, err := t.exec(`INSERT INTO chains_sync_status (chain, height, block_hash) VALUES (?, ?, ?)
		ON CONFLICT (chain) DO UPDATE SET height = excluded.height, block_hash = excluded.block_hash`,
		c.Chain, int64(c.Height), c.BlockHash)
	return err
}

func (t *tx) AddConfirmations(cs ...store.Confirmation) error {
	for _, c := range cs {
		if _, err := t.exec(`INSERT INTO message_confirmations (item_hash, chain, tx_hash, height, block_hash, time)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			c.ItemHash, c.Chain, c.TxHash, int64(c.Height), c.BlockHash, c.Time); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) DeleteConfirmations(chain string, fromHeight uint64) (int, error) {
	res, err := t.exec(`DELETE FROM message_confirmations WHERE chain = ? AND height >= ?`, chain, int64(fromHeight))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (r reader) ArchiveRetries(ctx context.Context, chain string) ([]store.ArchiveRetry, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT tx_hash, log_index, height, cid, event, attempts FROM archive_retries
		WHERE chain = ? ORDER BY height, log_index, tx_hash`, chain)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ArchiveRetry
	for rows.Next() {
		a := store.ArchiveRetry{Chain: chain}
		var idx, h int64
		if err := rows.Scan(&a.TxHash, &idx, &h, &a.CID, &a.Event, &a.Attempts); err != nil {
			return nil, err
		}
		a.LogIndex, a.Height = uint(idx), uint64(h)
		out = append(out, a)
	}
	return out, rows.Err()
}

func (t *tx) PutArchiveRetry(a *store.ArchiveRetry) error {
	_, err := t.exec(`INSERT INTO archive_retries (chain, tx_hash, log_index, height, cid, event, attempts)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (chain, tx_hash, log_index) DO UPDATE SET attempts = excluded.attempts`, a.Chain, a.TxHash, int64(a.LogIndex), int64(a.Height), a.CID, a.Event, a.Attempts)
	return err
}

func (t *tx) DeleteArchiveRetry(chain, txHash string, logIndex uint) error {
	_, err := t.exec(`DELETE FROM archive_retries WHERE chain = ? AND tx_hash = ? AND log_index = ?`, chain, txHash, int64(logIndex))
	return err
}
