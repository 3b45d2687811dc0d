package transfer

import (
	"bytes"
	"context"
	"io"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo"
)

// Documents lists the documents received for the user ("Ontvangen documenten"),
// newest first, with their provenance; only those of one transfer when transferID
// is not empty.
func (s *Service) Documents(ctx context.Context, userID, transferID string) ([]Document, error) {
	return s.c.Store.Documents(ctx, userID, transferID)
}

// ErrNoDocument refuses a document that is not the user's (or does not exist).
var ErrNoDocument = pgo.NewError(pgo.ENOTFOUND, "transfer.err.no_document", "This document does not exist.")

// OpenDocument returns a document of the user and a reader of its plaintext,
// decrypted segment by segment as it is read (the vault's streaming AEAD checks
// each segment before its bytes come out, so a damaged document never streams).
// It opens under the binding the row says it was sealed with (Document.ObjectID):
// a document sealed for another account or transfer, moved here by SQL, is an
// error, never its plaintext.
func (s *Service) OpenDocument(ctx context.Context, userID, id string) (Document, io.Reader, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Document{}, nil, ErrNoDocument
	}
	d, sealed, err := s.c.Store.Document(ctx, userID, id)
	if pgo.ErrorCode(err) == pgo.ENOTFOUND {
		return Document{}, nil, ErrNoDocument
	}
	if err != nil {
		return Document{}, nil, err
	}
	r, err := s.c.Sealer.OpenReader(bytes.NewReader(sealed), d.ObjectID())
	if err != nil {
		return Document{}, nil, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	return d, r, nil
}
