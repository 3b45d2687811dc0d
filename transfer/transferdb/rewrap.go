package transferdb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/transfer"
)

// StreamRewrapper moves a vault stream to the primary key (vault.Vault).
type StreamRewrapper interface {
	PrimaryKeyID() uint32
	RewrapStream(w io.Writer, r io.Reader, objectID string) error
}

// RewrapDocuments moves up to limit received documents after `after` from an older
// key to the primary key after `pgo keys rotate`: found by the key id in the
// header, written back only if unchanged, as store.DB.Rewrap does. The documents
// are vault streams, so the segments are copied as they are and only the data key
// is re-wrapped, under the object id of the row's binding (legacy or account:
// transfer.Document.ObjectID), which stays as it is. Sealed tokens are not moved:
// they live 15 minutes.
func (s *Store) RewrapDocuments(ctx context.Context, v StreamRewrapper, after string, limit int) (store.RewrapResult, error) {
	key := binary.BigEndian.AppendUint32(nil, v.PrimaryKeyID())
	return s.rewriteDocuments(ctx, `substring(sealed from 2 for 4) <> $1`, key, after, limit,
		func(d transfer.Document, _ string, w io.Writer, r io.Reader) (transfer.Document, error) {
			return d, v.RewrapStream(w, r, d.ObjectID())
		})
}

// ResealDocuments moves up to limit received documents after `after` that are
// sealed with the legacy binding (only their own id, before migration 026) to the
// account binding (transfer.ResealDocument), so that moving the row to another
// account or transfer by SQL makes it undecryptable. A legacy row carries nothing
// to check its owner against, so it is re-sealed for the account it sits in only
// when that is also its transfer's account: a row whose user_id was changed
// without its transfer's is counted as failed and left legacy, for an operator to
// look at, rather than sealed for whoever it was moved to.
func (s *Store) ResealDocuments(ctx context.Context, v transfer.StreamResealer, after string, limit int) (store.RewrapResult, error) {
	return s.rewriteDocuments(ctx, `sealed_binding = $1`, string(transfer.BindingLegacy), after, limit,
		func(d transfer.Document, transferOwner string, w io.Writer, r io.Reader) (transfer.Document, error) {
			if transferOwner != d.UserID {
				return d, pgo.Errorf(pgo.ECONFLICT, "document %s: its account is not its transfer's", d.ID)
			}
			return transfer.ResealDocument(v, d, w, r)
		})
}

// rewriteFunc writes to w the new ciphertext of the document d whose current
// ciphertext is r, and returns d as it is sealed then (its Binding);
// transferOwner is the user_id of d's transfer.
type rewriteFunc func(d transfer.Document, transferOwner string, w io.Writer, r io.Reader) (transfer.Document, error)

// rewriteDocuments is the loop of both rewrites: the ids of up to limit documents
// after `after` matching where (a condition of this file on the row, with arg as
// $1) are read in id order, then each document alone, so memory holds one
// document (old and new ciphertext) however large the batch: documents are
// megabytes. Each is written back only if it still holds the ciphertext, binding,
// account and transfer that were read (compare and set), so a concurrent writer
// is never overwritten: such a row counts as raced. A row that no longer matches
// when read is left alone; one that f refuses counts as failed. The id cursor
// moves past both.
func (s *Store) rewriteDocuments(ctx context.Context, where string, arg any, after string, limit int, f rewriteFunc) (store.RewrapResult, error) {
	var res store.RewrapResult
	cursor := uuid.Nil
	if after != "" {
		var err error
		if cursor, err = uuid.Parse(after); err != nil {
			return res, pgo.Wrap(pgo.EINVALID, err, "rewrite transfer_document: the cursor is not a uuid")
		}
	}
	rows, err := s.db.Pool.Query(ctx, `select id::text from transfer_document where id > $2 and `+where+`
		order by id limit $3`, arg, cursor, limit)
	if err != nil {
		return res, store.Error(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return res, store.Error(err)
	}
	for _, id := range ids {
		res.Next = id
		if err := s.rewriteDocument(ctx, id, where, arg, f, &res); err != nil {
			return res, err
		}
	}
	if len(ids) < limit {
		res.Next = ""
	}
	return res, nil
}

// rewriteDocument rewrites the document id (see rewriteDocuments) and counts
// what happened in res.
func (s *Store) rewriteDocument(ctx context.Context, id, where string, arg any, f rewriteFunc, res *store.RewrapResult) error {
	var old []byte
	var owner string
	d, err := scanDoc(s.db.Pool.QueryRow(ctx, `select `+docColumns+`, sealed,
			(select t.user_id::text from transfer t where t.id = transfer_document.transfer_id)
		from transfer_document where id = $2 and `+where, arg, id), &old, &owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // changed since the ids were read: nothing to do for this one
	}
	if err != nil {
		return store.Error(err)
	}
	var buf bytes.Buffer
	buf.Grow(len(old) + 1024) // the header may grow a little; segments keep their size
	moved, err := f(d, owner, &buf, bytes.NewReader(old))
	if err != nil {
		res.Failed++
		return nil
	}
	tag, err := s.db.Pool.Exec(ctx, `update transfer_document set sealed = $2, sealed_binding = $3
		where id = $1 and sealed = $4 and sealed_binding = $5 and user_id = $6 and transfer_id = $7`,
		id, buf.Bytes(), string(moved.Binding), old, string(d.Binding), d.UserID, d.TransferID)
	if err != nil {
		return store.Error(err)
	}
	if tag.RowsAffected() == 1 {
		res.Moved++
	} else {
		res.Raced++
	}
	return nil
}
