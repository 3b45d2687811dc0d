package transferdb

import (
	"bytes"
	"context"
	"io"

	"github.com/pgo-koppelvlak/pgo/store"
)

// StreamRewrapper moves a vault stream to the primary key (vault.Vault).
type StreamRewrapper interface {
	PrimaryKeyID() uint32
	RewrapStream(w io.Writer, r io.Reader, objectID string) error
}

// RewrapDocuments moves up to limit received documents after `after` from an older
// key to the primary key after `pgo keys rotate` (store.DB.Rewrap: found by the key
// id in the header, written back only if unchanged). The documents are vault
// streams, so the segments are copied as they are and only the data key is
// re-wrapped. Sealed tokens are not moved: they live 15 minutes.
func (s *Store) RewrapDocuments(ctx context.Context, v StreamRewrapper, after string, limit int) (store.RewrapResult, error) {
	return s.db.Rewrap(ctx, store.SealedColumn{Table: "transfer_document", ID: "id", Sealed: "sealed"}, streamRewrap{v}, after, limit)
}

// streamRewrap makes a StreamRewrapper a store.Rewrapper.
type streamRewrap struct{ v StreamRewrapper }

func (s streamRewrap) PrimaryKeyID() uint32 { return s.v.PrimaryKeyID() }

func (s streamRewrap) Rewrap(objectID string, ct []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(ct))
	if err := s.v.RewrapStream(&buf, bytes.NewReader(ct), objectID); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
