// Package zaldb persists the last good copies of the MedMij lists in PostgreSQL
// (table medmij_list, migration 003); it implements zal.Store.
package zaldb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/zal"
)

// Store is zal.Store on a pgx pool.
type Store struct{ pool *pgxpool.Pool }

var _ zal.Store = (*Store)(nil)

// New returns a Store on db's pool.
func New(db *store.DB) *Store { return &Store{pool: db.Pool} }

// SaveList stores l unless a copy with a higher Volgnummer is already stored (two
// instances refreshing at once never move the stored copy backwards).
func (s *Store) SaveList(ctx context.Context, l zal.StoredList) error {
	sum := sha256.Sum256(l.Raw)
	_, err := s.pool.Exec(ctx, `
		insert into medmij_list (kind, volgnummer, raw, sha256, etag, last_modified, origin, fetched_at)
		values ($1, $2, $3, $4, $5, $6, $7, $8)
		on conflict (kind) do update set
			volgnummer = excluded.volgnummer, raw = excluded.raw, sha256 = excluded.sha256,
			etag = excluded.etag, last_modified = excluded.last_modified, origin = excluded.origin,
			fetched_at = excluded.fetched_at, stored_at = now()
		where medmij_list.volgnummer <= excluded.volgnummer`,
		string(l.Kind), l.Volgnummer, l.Raw, hex.EncodeToString(sum[:]), l.ETag, l.LastModified, l.Origin, l.FetchedAt)
	return store.Error(err)
}

// Touch records that the stored copy was confirmed current at t.
func (s *Store) Touch(ctx context.Context, kind zal.Kind, t time.Time, etag, lastModified string) error {
	_, err := s.pool.Exec(ctx, `update medmij_list set fetched_at = greatest(fetched_at, $2), etag = $3, last_modified = $4
		where kind = $1`, string(kind), t, etag, lastModified)
	return store.Error(err)
}

// LoadLists returns every stored copy.
func (s *Store) LoadLists(ctx context.Context) ([]zal.StoredList, error) {
	rows, err := s.pool.Query(ctx, `select kind, volgnummer, raw, etag, last_modified, origin, fetched_at
		from medmij_list order by kind`)
	if err != nil {
		return nil, store.Error(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (zal.StoredList, error) {
		var l zal.StoredList
		var kind string
		err := row.Scan(&kind, &l.Volgnummer, &l.Raw, &l.ETag, &l.LastModified, &l.Origin, &l.FetchedAt)
		l.Kind = zal.Kind(kind)
		return l, err
	})
	return out, store.Error(err)
}
