package store

// BatchColumns are the packer_batches columns ScanBatch reads, in order;
// both backends select them.
const BatchColumns = `id, chain, archive, count, state, tx_hash, nonce, raw_tx, height, gas_used, created, updated`

// RowScanner is a row of either backend.
type RowScanner interface{ Scan(dest ...any) error }

// ScanBatch reads a packer_batches row selected with BatchColumns.
func ScanBatch(sc RowScanner) (Batch, error) {
	var b Batch
	var state string
	var nonce, height, gas int64
	err := sc.Scan(&b.ID, &b.Chain, &b.Archive, &b.Count, &state, &b.TxHash, &nonce, &b.RawTx, &height, &gas, &b.Created, &b.Updated)
	b.State, b.Nonce, b.Height, b.GasUsed = BatchState(state), uint64(nonce), uint64(height), uint64(gas)
	return b, err
}

// BatchArgs are the values of a new packer_batches row, in the order of
// BatchColumns without id.
func BatchArgs(b *Batch) []any {
	return []any{b.Chain, b.Archive, b.Count, string(b.State), b.TxHash, int64(b.Nonce), b.RawTx,
		int64(b.Height), int64(b.GasUsed), b.Created, b.Updated}
}

// UnanchoredQuery is the query of Reader.Unanchored for both backends:
// columns are the selected messages columns, limit the placeholder of the
// limit.
func UnanchoredQuery(columns, limit string) string {
	return `SELECT ` + columns + ` FROM messages m WHERE status = 'processed'
		AND NOT EXISTS (SELECT 1 FROM message_confirmations c WHERE c.item_hash = m.item_hash)
		AND NOT EXISTS (SELECT 1 FROM packer_batch_items b WHERE b.item_hash = m.item_hash)
		ORDER BY reception_time, item_hash LIMIT ` + limit
}

// Rows is a result set of either backend.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// CollectStrings reads the one text column of every row (nil when none);
// the caller closes rows.
func CollectStrings(rows Rows) ([]string, error) {
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
