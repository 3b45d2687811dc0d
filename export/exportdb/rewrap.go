package exportdb

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
	Raced  int    // rows changed by someone else meanwhile (left alone; they hold a new ciphertext)
	Failed int    // rows that did not open (damaged, or a key missing from the keyset)
}

// RewrapDocuments moves up to limit export documents with ids after `after` that are
// wrapped by an older key to the primary key (package vault, "Re-encryption after a
// rotation"): the old rows are found by the key id in the header bytes, and each is
// written back only if it still holds the ciphertext that was read (compare and
// swap), so a concurrent change is never overwritten. Running it again is harmless.
// Rows that fail to rewrap are counted and skipped (the id cursor moves past them).
func (s *Store) RewrapDocuments(ctx context.Context, v Rewrapper, after string, limit int) (RewrapResult, error) {
	return rewrapBatch(ctx, s.db, v, after, limit)
}

func rewrapBatch(ctx context.Context, db *store.DB, v Rewrapper, after string, limit int) (RewrapResult, error) {
	var res RewrapResult
	cursor := uuid.Nil
	if after != "" {
		var err error
		if cursor, err = uuid.Parse(after); err != nil {
			return res, fmt.Errorf("exportdb: rewrap cursor: %w", err)
		}
	}
	key := binary.BigEndian.AppendUint32(nil, v.PrimaryKeyID())
	rows, err := db.Pool.Query(ctx, `select job_id, sealed from export_document
		where job_id > $1 and substring(sealed from 2 for 4) <> $2 order by job_id limit $3`, cursor, key, limit)
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
		tag, err := db.Pool.Exec(ctx, `update export_document set sealed = $3 where job_id = $1 and sealed = $2`, o.id, o.sealed, ct)
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
