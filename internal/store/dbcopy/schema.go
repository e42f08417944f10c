package dbcopy

import "strings"

// kind is how a column's values convert between the backends.
type kind int

const (
	kText  kind = iota // TEXT ↔ text
	kInt               // INTEGER ↔ integer/bigint
	kFloat             // REAL ↔ double precision (bit-exact both ways)
	kBool              // INTEGER 0/1 ↔ boolean
	kJSON              // TEXT ↔ json (the text kept as it is)
)

type column struct {
	name string
	kind kind
}

// table is one table of the node's schema, with the columns both backends
// share. serial names the PostgreSQL bigserial column whose sequence must
// continue after the copied rows; pgOnly lists PostgreSQL columns the
// SQLite table does not have (filled by their default).
type table struct {
	name    string
	cols    []column
	serial  string
	pgOnly  []string
	ordered bool // rows must keep their order (vm_volumes: a VM's volumes)
}

func cols(spec string) []column {
	var out []column
	for _, f := range strings.Fields(spec) {
		name, k, _ := strings.Cut(f, ":")
		c := column{name: name}
		switch k {
		case "i":
			c.kind = kInt
		case "f":
			c.kind = kFloat
		case "b":
			c.kind = kBool
		case "j":
			c.kind = kJSON
		}
		out = append(out, c)
	}
	return out
}

// tables is the whole schema of both backends (internal/store/sqlite and
// internal/store/postgres migrations), except the goose version table.
// checkSchema refuses to copy when a backend has a table or column missing
// here, so that a new migration cannot be silently left out of copies.
var tables = []table{
	{name: "messages", cols: cols(`item_hash type chain sender signature item_type item_content content:j time:f
		channel size:i status reception_time:f owner content_type content_ref content_key content_item_hash payment_type`)},
	{name: "counters", cols: cols(`name value:i`)},
	{name: "rejected_messages", cols: cols(`item_hash message error_code:i details:j reception_time:f`)},
	{name: "forgotten_messages", cols: cols(`item_hash type chain sender signature item_type time:f channel owner
		payment_type size:i forgotten_at:f forgotten_by:j reception_time:f`)},
	{name: "pending_messages", serial: "id", cols: cols(`id:i item_hash sender signature message reception_time:f
		retries:i next_attempt:f origin`)},
	{name: "posts", cols: cols(`item_hash owner type ref amends channel content:j creation_time:f latest_amend`)},
	{name: "aggregate_elements", cols: cols(`item_hash owner key content:j creation_time:f`)},
	{name: "aggregates", cols: cols(`owner key content:j creation_time:f last_revision_hash last_revision_time:f`)},
	{name: "files", cols: cols(`hash size:i type`)},
	{name: "file_pins", serial: "id", cols: cols(`id:i file_hash type owner item_hash ref created:f delete_by:f`)},
	{name: "file_tags", cols: cols(`tag owner file_hash last_updated:f`)},
	{name: "vms", cols: cols(`item_hash owner type allow_amend:b replaces payment_type`)},
	{name: "chains_sync_status", cols: cols(`chain height:i block_hash`)},
	{name: "message_confirmations", cols: cols(`item_hash chain tx_hash height:i block_hash time:f`)},
	{name: "packer_batches", serial: "id", cols: cols(`id:i chain archive count:i state tx_hash nonce:i raw_tx height:i
		gas_used:i created:f updated:f`)},
	{name: "packer_batch_items", cols: cols(`item_hash batch_id:i`)},
	{name: "vm_volumes", serial: "id", pgOnly: []string{"id"}, ordered: true, cols: cols(`vm_hash ref`)},
	{name: "balances", cols: cols(`address chain dapp balance height:i`)},
	{name: "token_sync", cols: cols(`chain token height:i block_hash`)},
	{name: "archive_retries", cols: cols(`chain tx_hash log_index:i height:i cid event attempts:i`)},
	{name: "balance_history", cols: cols(`address chain dapp height:i time:f balance`)},
	{name: "account_costs", cols: cols(`item_hash owner time:f payment_type cost_hold cost_stream cost_credit`)},
	{name: "account_cost_totals", cols: cols(`owner_key hold credit row_count:i hold_rows:i last_time:f first_hold:f`)},
	{name: "collection", cols: cols(`item_hash owner reason since:f removed_at:f`)},
	{name: "credit_entries", cols: cols(`ref idx:i address time:f kind amount expiration:i origin origin_ref price
		bonus_amount tx_hash token chain provider payment_method expense_count expense_size_mib`)},
}

// Tables returns the names of the copied tables, in copy order.
func Tables() []string {
	out := make([]string, len(tables))
	for i, t := range tables {
		out[i] = t.name
	}
	return out
}

// columnList is the quoted column list of t's SQL statements.
func (t *table) columnList() string {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = `"` + c.name + `"`
	}
	return strings.Join(names, ", ")
}

func (t *table) columnNames() []string {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = c.name
	}
	return names
}
