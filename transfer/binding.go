package transfer

import (
	"fmt"
	"io"

	"github.com/pgo-koppelvlak/pgo"
)

// Binding says which vault object id (the associated data) a sealed object of
// the target role carries. The row stores it (migration 026), so every open uses
// exactly the id its object was sealed with: never one id and then another,
// which would let anyone who can write the table pick the weaker one.
type Binding string

const (
	// BindingLegacy is how objects were sealed before migration 026: bound only
	// to their own row (a document's id; "<transfer id>/verifier" and
	// "<transfer id>/token"), so such a row moved to another account by SQL
	// still opens there. ResealDocument moves documents off it; legacy secrets
	// end with their transfer, minutes later.
	BindingLegacy Binding = "legacy"
	// BindingAccount binds an object to the account that owns it, and a document
	// also to its transfer (DocumentObjectID, secretObjectID): a row moved to
	// another account or transfer no longer opens, and flipping its binding back
	// to legacy does not help, as its ciphertext does not open under the bare id.
	BindingAccount Binding = "account"
)

// DocumentObjectID is the vault object id of a received document sealed with
// BindingAccount: the owning account, the transfer that fetched it and the
// document itself. SECURITY.md designs against someone with the service's own
// database connection; with the owner in the associated data, moving the row
// (user_id, transfer_id) makes it undecryptable instead of someone else's.
func DocumentObjectID(userID, transferID, docID string) string {
	return "transfer_document/" + userID + "/" + transferID + "/" + docID
}

// ObjectID is the object id d's content was sealed under, by d.Binding. Any
// value but an explicit BindingLegacy gets the account binding, so an unknown
// value fails to open rather than opening under the weaker id.
func (d Document) ObjectID() string {
	if d.Binding == BindingLegacy {
		return d.ID
	}
	return DocumentObjectID(d.UserID, d.TransferID, d.ID)
}

// secretObjectID is the object id of a transfer's sealed secret (field
// "verifier" or "token") under binding b; with BindingAccount it names the
// owning account, so a transfer row moved to another account cannot have its
// verifier redeemed or its token used for that account.
func secretObjectID(b Binding, userID, transferID, field string) string {
	if b == BindingLegacy {
		return transferID + "/" + field
	}
	return "transfer/" + userID + "/" + transferID + "/" + field
}

// StreamResealer is what moving a document to another binding needs (vault.Vault).
type StreamResealer interface {
	SealWriter(w io.Writer, objectID string) (io.WriteCloser, error)
	OpenReader(r io.Reader, objectID string) (io.Reader, error)
}

// ResealDocument decrypts the document sealed in r under d's binding and
// writes it to w sealed with BindingAccount, segment by segment (a document is
// megabytes: no plaintext copy of it is held). It returns d as now sealed. On
// error w holds a partial stream that the caller must discard. The caller
// writes the result back only over the ciphertext it read (compare and set).
func ResealDocument(v StreamResealer, d Document, w io.Writer, r io.Reader) (Document, error) {
	if d.Binding != BindingLegacy {
		return Document{}, pgo.Errorf(pgo.EINVALID, "document %s has binding %q, not %q", d.ID, d.Binding, BindingLegacy)
	}
	moved := d
	moved.Binding = BindingAccount
	if err := reseal(v, d.ObjectID(), moved.ObjectID(), w, r); err != nil {
		return Document{}, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("re-sealing document %s: %w", d.ID, err), "")
	}
	return moved, nil
}

// reseal copies the stream in r, sealed for from, to w sealed for to.
func reseal(v StreamResealer, from, to string, w io.Writer, r io.Reader) error {
	pr, err := v.OpenReader(r, from)
	if err != nil {
		return err
	}
	sw, err := v.SealWriter(w, to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(sw, pr); err != nil {
		return err
	}
	return sw.Close()
}
