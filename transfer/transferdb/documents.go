package transferdb

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/transfer"
)

// ListByUser returns a user's transfers, newest first.
func (s *Store) ListByUser(ctx context.Context, userID string, limit int) ([]transfer.Transfer, error) {
	rows, err := s.db.Pool.Query(ctx, `select `+columns+` from transfer where user_id = $1
		order by created_at desc limit $2`, userID, limit)
	if err != nil {
		return nil, store.Error(err)
	}
	defer rows.Close()
	var out []transfer.Transfer
	for rows.Next() {
		t, err := scan(rows)
		if err != nil {
			return nil, store.Error(err)
		}
		out = append(out, t)
	}
	return out, store.Error(rows.Err())
}

// docColumns end with the binding, which with id, transfer_id and user_id makes
// the object id the content opens under (transfer.Document.ObjectID).
const docColumns = `id, transfer_id, user_id, remote_id, source, source_display, title, content_type, size,
	sha1, sha256, correlation_id::text, received_at, sealed_binding`

func scanDoc(row pgx.Row, extra ...any) (transfer.Document, error) {
	var d transfer.Document
	var binding string
	dest := append([]any{&d.ID, &d.TransferID, &d.UserID, &d.RemoteID, &d.Source, &d.SourceDisplay, &d.Title,
		&d.ContentType, &d.Size, &d.SHA1, &d.SHA256, &d.CorrelationID, &d.Received, &binding}, extra...)
	err := row.Scan(dest...)
	d.Binding = transfer.Binding(binding)
	return d, err
}

// Documents returns the user's received documents (of one transfer when
// transferID is not empty), newest first, without their content.
func (s *Store) Documents(ctx context.Context, userID, transferID string) ([]transfer.Document, error) {
	rows, err := s.db.Pool.Query(ctx, `select `+docColumns+` from transfer_document
		where user_id = $1 and ($2 = '' or transfer_id::text = $2) order by received_at desc, id limit 500`, userID, transferID)
	if err != nil {
		return nil, store.Error(err)
	}
	defer rows.Close()
	var out []transfer.Document
	for rows.Next() {
		d, err := scanDoc(rows)
		if err != nil {
			return nil, store.Error(err)
		}
		out = append(out, d)
	}
	return out, store.Error(rows.Err())
}

// Document returns one document of the user with its sealed content.
func (s *Store) Document(ctx context.Context, userID, id string) (transfer.Document, []byte, error) {
	var sealed []byte
	d, err := scanDoc(s.db.Pool.QueryRow(ctx, `select `+docColumns+`, sealed from transfer_document
		where id = $1 and user_id = $2`, id, userID), &sealed)
	return d, sealed, notFound(err)
}
