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
