package sqlite

import (
	"context"

	"github.com/goaleph/goaleph/internal/store"
)

func (r reader) Unanchored(ctx context.Context, limit int) ([]store.Record, error) {
	return r.queryRecords(ctx, store.UnanchoredQuery(recordColumns, `?`), []any{limit})
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
	return scanStrings(r.q.QueryContext(ctx, `SELECT item_hash FROM packer_batch_items WHERE batch_id = ? ORDER BY item_hash`, id))
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
