package exportdb

import (
	"context"

	"github.com/pgo-koppelvlak/pgo/store"
)

// RewrapDocuments moves up to limit export documents after `after` from an older
// key to the primary key (store.DB.Rewrap); a concurrent change is never overwritten.
func (s *Store) RewrapDocuments(ctx context.Context, v store.Rewrapper, after string, limit int) (store.RewrapResult, error) {
	return s.db.Rewrap(ctx, store.SealedColumn{Table: "export_document", ID: "job_id", Sealed: "sealed"}, v, after, limit)
}
