package sqlite

import (
	"context"

	"github.com/goaleph/goaleph/internal/store"
)

func (r reader) Unanchored(ctx context.Context, limit int) ([]store.Record, error) {
	return r.queryRecords(ctx, `SELECT `+recordColumns+` FROM messages m WHERE status = 'processed'
		AND NOT EXISTS (SELECT 1 FROM message_confirmations c WHERE c.item_hash = m.item_hash)
		AND NOT EXISTS (SELECT 1 FROM packer_batch_items b WHERE b.item_hash = m.item_hash)
		ORDER BY reception_time, item_hash LIMIT ?`, []any{limit})
}

func (r reader) OpenBatches(ctx context.Context, chain string) ([]store.Batch, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT `+store.BatchColumns+` FROM packer_batches
		WHERE chain = ? AND state <> 'confirmed' ORDER BY id`, chain)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Batch
	for rows.Next() {
		b, err := store.ScanBatch(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

func (r reader) BatchItems(ctx context.Context, id int64) ([]string, error) {
	rows, err := r.q.QueryContext(ctx, `SELECT item_hash FROM packer_batch_items WHERE batch_id = ? ORDER BY item_hash`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

func (t *tx) InsertBatch(b *store.Batch, items []string) error {
	err := t.q.QueryRowContext(t.ctx, `INSERT INTO packer_batches (chain, archive, count, state, tx_hash, nonce, raw_tx,
		height, gas_used, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		store.BatchArgs(b)...).Scan(&b.ID)
	if err != nil {
		return err
	}
	for _, h := range items {
		if _, err := t.exec(`INSERT INTO packer_batch_items (item_hash, batch_id) VALUES (?, ?)`, h, b.ID); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) UpdateBatch(b *store.Batch) error {
	_, err := t.exec(`UPDATE packer_batches SET state = ?, tx_hash = ?, nonce = ?, raw_tx = ?, height = ?, gas_used = ?,
		updated = ? WHERE id = ?`, string(b.State), b.TxHash, int64(b.Nonce), b.RawTx, int64(b.Height), int64(b.GasUsed), b.Updated, b.ID)
	return err
}
