package dossier

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo"
)

// A dossier row's ciphertext is bound (as the Sealer's object id, its associated
// data) to the account that owns the row, not only to the row: SECURITY.md
// designs against someone with the service's own database connection, who can
// `update dossier_resource set user_id = ...`. With the bare row id as object id
// the service then opened a patient's row for the other account; bound to the
// account, the moved row no longer opens there (an error, never the plaintext).
//
// Which object id a row was sealed with is stored beside it
// (dossier_resource.sealed_binding, migration 025), not found by trying one and
// then the other: the rows still sealed with the bare id are then found by an
// index and re-sealed (Service.Rebind), and once none is left the bare-id path
// can be removed without guessing. A fallback would protect no more (a moved
// account-bound row opens under neither id) but would keep accepting bare-id
// ciphertexts, from a backup say, for as long as the code has it.

// Binding says what a dossier row's ciphertext is bound to.
type Binding string

const (
	// BindingLegacy is the bare row id: rows sealed before migration 025. Such a row
	// still opens after a move to another account; the rewrap task re-seals it
	// as BindingAccount (Service.Rebind).
	BindingLegacy Binding = "legacy"
	// BindingAccount is the owning account and the row (AccountObjectID): every
	// row written since.
	BindingAccount Binding = "account"
)

// AccountObjectID is the Sealer object id of a dossier row bound to its
// account: "dossier/<user id>/<row id>", both in the canonical uuid text form.
// It is unambiguous (a uuid holds no "/"), and the prefix keeps it apart from
// the bare uuids that other sealed tables use as object ids.
func AccountObjectID(userID, rowID uuid.UUID) string {
	return "dossier/" + userID.String() + "/" + rowID.String()
}

// ObjectID returns the object id a row of account userID with id rowID is
// sealed with under binding b. The ids are parsed, so that a caller's other
// spelling of the same uuid (upper case, urn:uuid:) names the same object.
func (b Binding) ObjectID(userID, rowID string) (string, error) {
	switch b {
	case BindingLegacy:
		return rowID, nil
	case BindingAccount:
		u, uerr := uuid.Parse(userID)
		r, rerr := uuid.Parse(rowID)
		if err := errors.Join(uerr, rerr); err != nil {
			return "", pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("dossier row %q of %q: %w", rowID, userID, err), "")
		}
		return AccountObjectID(u, r), nil
	}
	return "", pgo.Errorf(pgo.EINTERNAL, "dossier row %s: unknown binding %q", rowID, b)
}

// openRow decrypts the resource of row r of account userID with the object id
// of the binding it was sealed with.
func (s *Service) openRow(userID string, r Row) ([]byte, error) {
	oid, err := r.Binding.ObjectID(userID, r.ID)
	if err != nil {
		return nil, err
	}
	return s.sealer.Open(oid, r.Sealed)
}

// RebindStore is what re-sealing rows stored with the bare row id needs from
// PostgreSQL (dossierdb).
type RebindStore interface {
	// RowBound returns up to limit rows with ids after `after` (in id order)
	// that are sealed under BindingLegacy, with ID, UserID and Sealed set.
	RowBound(ctx context.Context, after string, limit int) ([]Row, error)
	// Rebind replaces row id's ciphertext old by sealed, now under
	// BindingAccount, if the row still belongs to userID and holds old under
	// BindingLegacy; false when it does not (a concurrent re-import, or a move).
	Rebind(ctx context.Context, id, userID string, old, sealed []byte) (bool, error)
}

// Rebind re-seals up to limit rows after `after` that are sealed with the bare
// row id (BindingLegacy) under the account binding (BindingAccount), so that a move of
// the row to another account no longer opens. Part of the rewrap task (`pgo
// keys rewrap`); repeating it is harmless. A row is bound to the account that
// holds it when the task reads it: a row moved before the upgrade stays with
// the account it was moved to. Rows that do not open are counted and skipped;
// rows changed meanwhile are left alone (they hold a newer ciphertext).
func (s *Service) Rebind(ctx context.Context, st RebindStore, after string, limit int) (ReKeyResult, error) {
	var res ReKeyResult
	rows, err := st.RowBound(ctx, after, limit)
	if err != nil {
		return res, err
	}
	for _, r := range rows {
		res.Next = r.ID
		r.Binding = BindingLegacy
		plain, err := s.openRow(r.UserID, r)
		if err != nil {
			res.Failed++
			continue
		}
		sealed, err := s.sealRow(r.UserID, r.ID, plain)
		clear(plain)
		if err != nil {
			return res, err
		}
		ok, err := st.Rebind(ctx, r.ID, r.UserID, r.Sealed, sealed)
		switch {
		case err != nil:
			return res, err
		case ok:
			res.Moved++
		default:
			res.Raced++
		}
	}
	if len(rows) < limit {
		res.Next = ""
	}
	return res, nil
}

// sealRow seals the resource of row rowID of account userID under BindingAccount.
func (s *Service) sealRow(userID, rowID string, plain []byte) ([]byte, error) {
	oid, err := BindingAccount.ObjectID(userID, rowID)
	if err != nil {
		return nil, err
	}
	sealed, err := s.sealer.Seal(oid, plain)
	if err != nil {
		return nil, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	return sealed, nil
}
