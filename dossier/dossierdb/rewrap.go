package dossierdb

import (
	"context"
	"encoding/binary"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/store"
)

var _ dossier.RebindStore = (*Store)(nil)

// cursor parses the id a batch starts after ("" = from the start).
func cursor(after string) (uuid.UUID, error) {
	if after == "" {
		return uuid.Nil, nil
	}
	id, err := uuid.Parse(after)
	return id, store.Error(err)
}

// sealedRow is a dossier row as the re-encryption tasks read it.
type sealedRow struct {
	id, user uuid.UUID
	binding  string
	sealed   []byte
}

func (s *Store) sealedRows(ctx context.Context, query string, args ...any) ([]sealedRow, error) {
	rows, err := s.db.Pool.Query(ctx, query, args...)
	if err != nil {
		return nil, store.Error(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sealedRow, error) {
		var o sealedRow
		return o, r.Scan(&o.id, &o.user, &o.binding, &o.sealed)
	})
	return out, store.Error(err)
}

// Rewrap moves up to limit dossier rows after `after` from an older key to the
// primary key, as store.DB.Rewrap does for other tables (old rows found by the
// key id in the ciphertext's header, compare and swap, id cursor). That one
// cannot serve here: its object id is the bare row id, and a row bound to its
// account (dossier.BindingAccount) is sealed with another. Each row keeps its
// binding; a concurrent re-import or re-seal is never overwritten.
func (s *Store) Rewrap(ctx context.Context, v store.Rewrapper, after string, limit int) (store.RewrapResult, error) {
	var res store.RewrapResult
	from, err := cursor(after)
	if err != nil {
		return res, err
	}
	key := binary.BigEndian.AppendUint32(nil, v.PrimaryKeyID())
	batch, err := s.sealedRows(ctx, `select id, user_id, sealed_binding, sealed from dossier_resource
		where id > $1 and substring(sealed from 2 for 4) <> $2 order by id limit $3`, from, key, limit)
	if err != nil {
		return res, err
	}
	for _, o := range batch {
		res.Next = o.id.String()
		oid, err := dossier.Binding(o.binding).ObjectID(o.user.String(), o.id.String())
		var ct []byte
		if err == nil {
			ct, err = v.Rewrap(oid, o.sealed)
		}
		if err != nil {
			res.Failed++
			continue
		}
		tag, err := s.db.Pool.Exec(ctx, `update dossier_resource set sealed = $5
			where id = $1 and user_id = $2 and sealed_binding = $3 and sealed = $4`, o.id, o.user, o.binding, o.sealed, ct)
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

// RowBound returns rows still sealed with the bare row id (dossier.Rebind),
// found by the partial index of migration 025.
func (s *Store) RowBound(ctx context.Context, after string, limit int) ([]dossier.Row, error) {
	from, err := cursor(after)
	if err != nil {
		return nil, err
	}
	batch, err := s.sealedRows(ctx, `select id, user_id, sealed_binding, sealed from dossier_resource
		where sealed_binding = $1 and id > $2 order by id limit $3`, string(dossier.BindingLegacy), from, limit)
	if err != nil {
		return nil, err
	}
	out := make([]dossier.Row, len(batch))
	for i, o := range batch {
		out[i] = dossier.Row{ID: o.id.String(), UserID: o.user.String(), Binding: dossier.Binding(o.binding), Sealed: o.sealed}
	}
	return out, nil
}

// Rebind writes a row's ciphertext re-sealed under the account binding, only
// over the bare-id ciphertext that was read and only while the row belongs to
// the account it was sealed for (compare and swap).
func (s *Store) Rebind(ctx context.Context, id, userID string, old, sealed []byte) (bool, error) {
	tag, err := s.db.Pool.Exec(ctx, `update dossier_resource set sealed = $4, sealed_binding = $5
		where id = $1 and user_id = $2 and sealed = $3 and sealed_binding = $6`,
		id, userID, old, sealed, string(dossier.BindingAccount), string(dossier.BindingLegacy))
	if err != nil {
		return false, store.Error(err)
	}
	return tag.RowsAffected() == 1, nil
}
