package sqlite

import (
	"encoding/json"

	"github.com/goaleph/goaleph/internal/store"
)

func (t *tx) InsertForgotten(f *store.Forgotten) (bool, error) {
	by, err := json.Marshal(f.ForgottenBy)
	if err != nil {
		return false, err
	}
	res, err := t.exec(`INSERT INTO forgotten_messages (item_hash, type, chain, sender, signature, item_type, time, channel, owner,
		payment_type, size, forgotten_at, forgotten_by, reception_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (item_hash) DO NOTHING`,
		f.ItemHash, string(f.Type), f.Chain, f.Sender, f.Signature, string(f.ItemType), f.Time, nullStr(f.Channel), f.Owner,
		nullStr(f.PaymentType), f.Size, f.ForgottenAt, string(by), f.ReceptionTime)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
