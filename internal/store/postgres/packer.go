package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/goaleph/goaleph/internal/store"
)

func (r reader) Unanchored(ctx context.Context, limit int) ([]store.Record, error) {
	return r.queryRecords(ctx, store.UnanchoredQuery(recordColumns, `$1`), []any{limit})
}

func (r reader) OpenBatches(ctx context.Context, chain string) ([]store.Batch, error) {
	rows, err := r.q.Query(ctx, `SELECT `+store.BatchColumns+` FROM packer_batches
		WHERE chain = $1 AND state <> 'confirmed' ORDER BY id`, chain)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Batch, error) { return store.ScanBatch(row) })
}

func (r reader) BatchItems(ctx context.Context, id int64) ([]string, error) {
	rows, err := r.q.Query(ctx, `SELECT item_hash FROM packer_batch_items WHERE batch_id = $1 ORDER BY item_hash`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func (t *tx) InsertBatch(b *store.Batch, items []string) error {
	err := t.q.QueryRow(t.ctx, `INSERT INTO packer_batches (chain, archive, count, state, tx_hash, nonce, raw_tx,
		height, gas_used, created, updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
		store.BatchArgs(b)...).Scan(&b.ID)
	if err != nil {
		return err
	}
	_, err = t.exec(`INSERT INTO packer_batch_items (item_hash, batch_id) SELECT unnest($1::text[]), $2`, items, b.ID)
	return err
}

func (t *tx) UpdateBatch(b *store.Batch) error {
	_, err := t.exec(`UPDATE packer_batches SET state = $1, tx_hash = $2, nonce = $3, raw_tx = $4, height = $5, gas_used = $6,
		updated = $7 WHERE id = $8`, string(b.State), b.TxHash, int64(b.Nonce), b.RawTx, int64(b.Height), int64(b.GasUsed), b.Updated, b.ID)
	return err
}
