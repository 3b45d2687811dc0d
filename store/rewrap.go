package store

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Rewrapper moves a vault ciphertext to the primary key (vault.Vault).
type Rewrapper interface {
	PrimaryKeyID() uint32
	Rewrap(objectID string, ciphertext []byte) ([]byte, error)
}

// RewrapResult is what one batch of a re-encryption did.
type RewrapResult struct {
	Next   string // the last id looked at: pass it as after for the next batch ("" = done)
	Moved  int    // rows now under the primary key
	Raced  int    // rows changed by someone else meanwhile: left alone, they hold a new ciphertext
	Failed int    // rows that did not open (damaged, or a key missing from the keyset)
}

// SealedColumn names a column of vault ciphertexts and the uuid key of its table;
// the key's text form is the vault object id. Both names are constants of the
// calling db package, never input.
type SealedColumn struct {
	Table, ID, Sealed string
}

// Rewrap moves up to limit rows with ids after `after` whose ciphertext is wrapped by
// an older key to the primary key, after `pgo keys rotate` (package vault,
// "Re-encryption after a rotation"). Old rows are found by the key id in bytes 2-5
// of the ciphertext without decrypting anything; each row is written back only if
// it still holds the ciphertext that was read (compare and swap), so a concurrent
// writer is never overwritten. Repeating it is harmless. Rows that do not rewrap are
// counted and skipped: the id cursor moves past them.
func (db *DB) Rewrap(ctx context.Context, col SealedColumn, v Rewrapper, after string, limit int) (RewrapResult, error) {
	var res RewrapResult
	cursor := uuid.Nil
	if after != "" {
		var err error
		if cursor, err = uuid.Parse(after); err != nil {
			return res, fmt.Errorf("rewrap %s: cursor: %w", col.Table, err)
		}
	}
	id, sealed, table := pgx.Identifier{col.ID}.Sanitize(), pgx.Identifier{col.Sealed}.Sanitize(), pgx.Identifier{col.Table}.Sanitize()
	key := binary.BigEndian.AppendUint32(nil, v.PrimaryKeyID())
	rows, err := db.Pool.Query(ctx, fmt.Sprintf(`select %s, %s from %s
		where %[1]s > $1 and %[2]s is not null and substring(%[2]s from 2 for 4) <> $2 order by %[1]s limit $3`, id, sealed, table),
		cursor, key, limit)
	if err != nil {
		return res, Error(err)
	}
	type old struct {
		id     uuid.UUID
		sealed []byte
	}
	batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (old, error) {
		var o old
		return o, r.Scan(&o.id, &o.sealed)
	})
	if err != nil {
		return res, Error(err)
	}
	update := fmt.Sprintf(`update %s set %s = $3 where %s = $1 and %[2]s = $2`, table, sealed, id)
	for _, o := range batch {
		res.Next = o.id.String()
		ct, err := v.Rewrap(o.id.String(), o.sealed)
		if err != nil {
			res.Failed++
			continue
		}
		tag, err := db.Pool.Exec(ctx, update, o.id, o.sealed, ct)
		if err != nil {
			return res, Error(err)
		}
		if tag.RowsAffected() == 1 {
			res.Moved++
		} else {
			res.Raced++
		}
	}
	if len(batch) < limit {
		res.Next = ""
	}
	return res, nil
}
