package dossierdb

import (
	"context"

	"github.com/pgo-koppelvlak/pgo/store"
)

// Rewrap moves up to limit dossier rows after `after` from an older key to the
// primary key (store.DB.Rewrap); a concurrent re-import is never overwritten.
func (s *Store) Rewrap(ctx context.Context, v store.Rewrapper, after string, limit int) (store.RewrapResult, error) {
	return s.db.Rewrap(ctx, store.SealedColumn{Table: "dossier_resource", ID: "id", Sealed: "sealed"}, v, after, limit)
}
