package dossier

import (
	"context"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/fhir"
)

// Sealer encrypts health data at rest (implemented by vault.Vault). The object id is
// bound to the ciphertext as associated data, so a sealed resource cannot be moved to
// another row, or a row to another account, unnoticed (Binding).
type Sealer interface {
	Seal(objectID string, plaintext []byte) ([]byte, error)
	Open(objectID string, ciphertext []byte) ([]byte, error)
	// RefKeys returns the HMAC keys of ref keys per keyset key id and the id of
	// the one new rows are keyed with (vault.Vault.RefKeys).
	RefKeys() (primary uint32, keys map[uint32][]byte)
}

// Row is one stored resource as the store sees it: only ciphertext of the resource,
// and in the clear what counting and reference checks need.
type Row struct {
	ID       string // uuid
	ImportID string
	UserID   string  // set by StaleRefKeys and RowBound only
	Binding  Binding // what Sealed is bound to: the Sealer's object id (Binding.ObjectID)
	Version  fhir.Version
	Type     string   // FHIR resource type
	Category Category // consent-screen category
	RefKey   []byte   // RefKey(key, user, type, id)
	RefKeyID uint32   // the keyset key id whose ref key RefKey was made with
	Sealed   []byte   // the resource JSON, sealed
}

// ImportInfo describes one import for the store (and its audit record).
type ImportInfo struct {
	ID         string
	UserID     string
	Version    fhir.Version
	Source     string // "bundle:transaction", "directory", "resource"
	Counts     map[Category]int
	ActorType  string // audit actor type: "system" for the CLI, "user" for a patient
	ActorID    string
	RequestID  string
	Correlated string
}

// ErrUnknownUser refuses an import for a user id that names no account: the data
// would belong to nobody (and surface on an account created later with that id).
var ErrUnknownUser = pgo.NewError(pgo.ENOTFOUND, "dossier.reason.unknown_user", "there is no user with this id")

// ErrNotPatient refuses an import into an account that is not a patient's (an
// auditor's, account.RoleAuditor): an auditor reads the audit log and has no
// dossier (NEN 7513 §9 separates the roles); the data would be readable by nobody
// entitled to it.
var ErrNotPatient = pgo.Errorf(pgo.EFORBIDDEN, "this account is not a patient's: a dossier is only imported into a patient account")

// Writer is one import's open transaction (Store.Begin).
type Writer interface {
	// Write deletes the user's rows whose ref key is one of replace (the rows
	// being re-imported, under every key they can be stored with) and copies
	// rows in.
	Write(ctx context.Context, userID, importID string, rows []Row, replace [][]byte) error
	// Patient returns the keys the dossier's patient is known by (none before
	// the first import), as committed before this transaction took the user's
	// import lock (Store.Begin).
	Patient(ctx context.Context, userID string) ([]PatientKey, error)
	// SetPatient stores keys of the dossier's patient, replacing those of the
	// same kind.
	SetPatient(ctx context.Context, userID string, keys []PatientKey) error
	// Commit appends the import's audit record and commits.
	Commit(ctx context.Context, info ImportInfo, total int) error
	// Rollback ends the transaction without a trace; harmless after Commit.
	Rollback(ctx context.Context)
}

// Store is what the dossier needs from PostgreSQL (implemented by dossierdb).
type Store interface {
	// Existing returns the subset of keys that are stored for the user.
	Existing(ctx context.Context, userID string, keys [][32]byte) (map[[32]byte]bool, error)
	// Begin opens the one transaction of an import: the rows written to it and
	// the audit record are stored all or nothing. It serialises the imports of
	// one user: a second Begin for the user waits until the first transaction
	// ends, so each import checks the patient against what the earlier one
	// committed. ErrUnknownUser when the user has no account, ErrNotPatient
	// when it is not a patient's.
	Begin(ctx context.Context, userID string) (Writer, error)
	// Refused appends the audit record of a refused import (outcome failure
	// with reason) in a transaction of its own: the import's transaction, if it
	// began, was rolled back. info.UserID is empty when it was no account id.
	Refused(ctx context.Context, info ImportInfo, reason string) error
	// Counts counts the user's rows per category.
	Counts(ctx context.Context, userID string) (map[Category]int, error)
	// Rows returns the user's rows of the given categories, in insertion order,
	// with their Binding.
	Rows(ctx context.Context, userID string, cats []Category) ([]Row, error)
	// FirstRows returns the first n rows (in insertion order, as Rows) of each
	// of the given categories, and the user's first Patient row if it is not
	// among them, all in insertion order: what the consent screen previews.
	FirstRows(ctx context.Context, userID string, cats []Category, n int) ([]Row, error)
	// RowsByRefKey returns the user's rows whose ref key is one of keys, in
	// insertion order.
	RowsByRefKey(ctx context.Context, userID string, keys [][]byte) ([]Row, error)
}

// Service is the dossier: import, counts and summaries of a user's health record.
type Service struct {
	store  Store
	sealer Sealer
}

// New returns a Service over store that seals resources with sealer.
func New(store Store, sealer Sealer) *Service { return &Service{store: store, sealer: sealer} }

func checkUser(userID string) error {
	if _, err := uuid.Parse(userID); err != nil {
		return pgo.Errorf(pgo.EINVALID, "user id must be a UUID")
	}
	return nil
}

// Counts returns the number of items per category for the consent screen (only
// categories with items are present). It reads no health data.
func (s *Service) Counts(ctx context.Context, userID string) (map[Category]int, error) {
	if err := checkUser(userID); err != nil {
		return nil, err
	}
	return s.store.Counts(ctx, userID)
}

// Label returns the Dutch label of a category.
func Label(c Category) string {
	for _, ci := range Categories {
		if ci.Key == c {
			return ci.LabelNL
		}
	}
	return string(c)
}

// ParseCategory accepts a category key ("problems") or its Dutch or English label.
func ParseCategory(s string) (Category, bool) {
	for _, ci := range Categories {
		if s == string(ci.Key) || s == ci.LabelNL || s == ci.LabelEN {
			return ci.Key, true
		}
	}
	return "", false
}
