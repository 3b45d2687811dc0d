package dossierdb

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/store"
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
	Raced  int    // rows changed meanwhile (re-imported): left alone, they hold a new ciphertext
	Failed int    // rows that did not open (damaged, or a key missing from the keyset)
}

// Rewrap moves up to limit dossier rows with ids after `after` that are wrapped by
// an older key to the primary key, after a `pgo keys rotate` (package vault,
// "Re-encryption after a rotation"): old rows are found by the key id in bytes 2-5
// of the ciphertext without decrypting anything, and each row is written back only
// if it still holds the ciphertext that was read (compare and swap), so a
// concurrent import is never overwritten. Repeating it is harmless. Rows that do not
// rewrap are counted and skipped: the id cursor moves past them.
func (s *Store) Rewrap(ctx context.Context, v Rewrapper, after string, limit int) (RewrapResult, error) {
	var res RewrapResult
	cursor := uuid.Nil
	if after != "" {
		var err error
		if cursor, err = uuid.Parse(after); err != nil {
			return res, fmt.Errorf("dossierdb: rewrap cursor: %w", err)
		}
	}
	key := binary.BigEndian.AppendUint32(nil, v.PrimaryKeyID())
	rows, err := s.db.Pool.Query(ctx, `select id, sealed from dossier_resource
		where id > $1 and substring(sealed from 2 for 4) <> $2 order by id limit $3`, cursor, key, limit)
	if err != nil {
		return res, store.Error(err)
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
		return res, store.Error(err)
	}
	for _, o := range batch {
		res.Next = o.id.String()
		ct, err := v.Rewrap(o.id.String(), o.sealed)
		if err != nil {
			res.Failed++
			continue
		}
		tag, err := s.db.Pool.Exec(ctx, `update dossier_resource set sealed = $3 where id = $1 and sealed = $2`, o.id, o.sealed, ct)
		if err != nil {
			return res, store.Error(err)
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
