package postgres

import (
	"encoding/json"

	"github.com/goaleph/goaleph/internal/store"
)

func (t *tx) InsertForgotten(f *store.Forgotten) (bool, error) {
	by, err := json.Marshal(f.ForgottenBy)
	if err != nil {
		return false, err
	}
	tag, err := t.exec(`INSERT INTO forgotten_messages (item_hash, type, chain, sender, signature, item_type, time, channel, owner,
		payment_type, size, forgotten_at, forgotten_by, reception_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
		ON CONFLICT (item_hash) DO NOTHING`,
		f.ItemHash, string(f.Type), f.Chain, f.Sender, f.Signature, string(f.ItemType), f.Time, nullStr(f.Channel), f.Owner,
		nullStr(f.PaymentType), f.Size, f.ForgottenAt, string(by), f.ReceptionTime)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	if t.seen != nil {
		t.seen[f.ItemHash] = store.Seen{Forgotten: true}
	}
	return true, nil
}
