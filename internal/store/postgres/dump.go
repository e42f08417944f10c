package postgres

import "github.com/jackc/pgx/v5/pgxpool"

// Pool returns the connection pool under the store, for tools that read or
// fill whole tables at once (store/dbcopy: COPY in, snapshot reads out).
// Writes made through it bypass Update's serialisation: use it only while
// nothing else writes.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }
