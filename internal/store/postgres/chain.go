package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/goaleph/goaleph/internal/store"
)

func (r reader) ChainSync(ctx context.Context, chain string) (*store.ChainSync, error) {
	type row struct {
		Chain     string
		Height    int64
		BlockHash string
	}
	rows, _ := r.q.Query(ctx, `SELECT chain, height, block_hash FROM chains_sync_status WHERE chain = $1`, chain)
	got, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[row])
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &store.ChainSync{Chain: got.Chain, Height: uint64(got.Height), BlockHash: got.BlockHash}, nil
}

func (r reader) Confirmations(ctx context.Context, hashes []string) (map[string][]store.Confirmation, error) {
	out := map[string][]store.Confirmation{}
	if len(hashes) == 0 {
		return out, nil
	}
	rows, err := r.q.Query(ctx, `SELECT item_hash, chain, tx_hash, height, block_hash, time FROM message_confirmations
		WHERE item_hash = ANY($1) ORDER BY item_hash, chain, height, tx_hash`, hashes)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var c store.Confirmation
		var h int64
		if err := rows.Scan(&c.ItemHash, &c.Chain, &c.TxHash, &h, &c.BlockHash, &c.Time); err != nil {
			return nil, err
		}
		c.Height = uint64(h)
		out[c.ItemHash] = append(out[c.ItemHash], c)
	}
	return out, rows.Err()
}

func (t *tx) SetChainSync(c *store.ChainSync) error {
	_, err := t.exec(`INSERT INTO chains_sync_status (chain, height, block_hash) VALUES ($1, $2, $3)
		ON CONFLICT (chain) DO UPDATE SET height = excluded.height, block_hash = excluded.block_hash`,
		c.Chain, int64(c.Height), c.BlockHash)
	return err
}

func (t *tx) AddConfirmations(cs ...store.Confirmation) error {
	if len(cs) == 0 {
		return nil
	}
	n := len(cs)
	items, chains, txs, blocks := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	heights, times := make([]int64, n), make([]float64, n)
	for i, c := range cs {
		items[i], chains[i], txs[i], blocks[i] = c.ItemHash, c.Chain, c.TxHash, c.BlockHash
		heights[i], times[i] = int64(c.Height), c.Time
	}
	_, err := t.exec(`INSERT INTO message_confirmations (item_hash, chain, tx_hash, height, block_hash, time)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::float8[])
		ON CONFLICT DO NOTHING`, items, chains, txs, heights, blocks, times)
	return err
}

func (t *tx) DeleteConfirmations(chain string, fromHeight uint64) (int, error) {
	res, err := t.exec(`DELETE FROM message_confirmations WHERE chain = $1 AND height >= $2`, chain, int64(fromHeight))
	if err != nil {
		return 0, err
	}
	return int(res.RowsAffected()), nil
}

func (r reader) ArchiveRetries(ctx context.Context, chain string) ([]store.ArchiveRetry, error) {
	rows, err := r.q.Query(ctx, `SELECT tx_hash, log_index, height, cid, event, attempts FROM archive_retries
		WHERE chain = $1 ORDER BY height, log_index, tx_hash`, chain)
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
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (chain, tx_hash, log_index) DO UPDATE SET attempts = excluded.attempts`, a.Chain, a.TxHash, int64(a.LogIndex), int64(a.Height), a.CID, a.Event, a.Attempts)
	return err
}

func (t *tx) DeleteArchiveRetry(chain, txHash string, logIndex uint) error {
	_, err := t.exec(`DELETE FROM archive_retries WHERE chain = $1 AND tx_hash = $2 AND log_index = $3`, chain, txHash, int64(logIndex))
	return err
}
