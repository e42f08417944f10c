package sqlite

import "context"

// Hashes lists the processed and forgotten messages' times and hashes.
func (db *DB) Hashes(ctx context.Context, fn func(time float64, hash string) error) error {
	rows, err := db.read.QueryContext(ctx, `SELECT time, item_hash FROM messages
		UNION ALL SELECT time, item_hash FROM forgotten_messages`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var t float64
		var h string
		if err := rows.Scan(&t, &h); err != nil {
			return err
		}
		if err := fn(t, h); err != nil {
			return err
		}
	}
	return rows.Err()
}
