package dossierdb

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/store"
)

var _ dossier.ReKeyStore = (*Store)(nil)

// StaleRefKeys returns rows whose ref key is not the primary key's (dossier.ReKey).
func (s *Store) StaleRefKeys(ctx context.Context, primary uint32, after string, limit int) ([]dossier.Row, error) {
	from, err := cursor(after)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.Pool.Query(ctx, `select id, user_id, resource_type, ref_key, sealed_binding, sealed from dossier_resource
		where id > $1 and ref_key_id is distinct from $2 order by id limit $3`, from, int64(primary), limit)
	if err != nil {
		return nil, store.Error(err)
	}
	var out []dossier.Row
	var r dossier.Row
	var binding string
	_, err = pgx.ForEachRow(rows, []any{&r.ID, &r.UserID, &r.Type, &r.RefKey, &binding, &r.Sealed}, func() error {
		r.Binding = dossier.Binding(binding)
		out = append(out, r)
		r = dossier.Row{}
		return nil
	})
	return out, store.Error(err)
}

// SetRefKey swaps a row's ref key if it still holds old.
func (s *Store) SetRefKey(ctx context.Context, id string, old, key []byte, keyID uint32) (bool, error) {
	tag, err := s.db.Pool.Exec(ctx, `update dossier_resource set ref_key = $3, ref_key_id = $4 where id = $1 and ref_key = $2`,
		id, old, key, int64(keyID))
	if err != nil {
		return false, store.Error(err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReKeyPatient moves the user's dossier patient key of k.Kind to k if it is one of
// old and not yet made with k's key.
func (s *Store) ReKeyPatient(ctx context.Context, userID string, old [][]byte, k dossier.PatientKey) error {
	_, err := s.db.Pool.Exec(ctx, `update dossier_patient set ref_key = $4, ref_key_id = $5
		where user_id = $1 and kind = $2 and ref_key = any($3) and ref_key_id <> $5`,
		userID, k.Kind, old, k.Key, int64(k.KeyID))
	return store.Error(err)
}
