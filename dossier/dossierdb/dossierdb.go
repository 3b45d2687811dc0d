// Package dossierdb stores the dossier (package dossier) in PostgreSQL: resources as
// sealed rows, written with COPY in one transaction together with their audit record.
package dossierdb

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/fhir"
	"github.com/pgo-koppelvlak/pgo/store"
)

// Store implements dossier.Store.
type Store struct{ db *store.DB }

// New returns the dossier store on db.
func New(db *store.DB) *Store { return &Store{db: db} }

var _ dossier.Store = (*Store)(nil)

// Existing returns which keys are stored for the user.
func (s *Store) Existing(ctx context.Context, userID string, keys [][32]byte) (map[[32]byte]bool, error) {
	args := make([][]byte, len(keys))
	for i := range keys {
		args[i] = keys[i][:]
	}
	rows, err := s.db.Pool.Query(ctx, `select ref_key from dossier_resource where user_id = $1 and ref_key = any($2)`, userID, args)
	if err != nil {
		return nil, store.Error(err)
	}
	out := map[[32]byte]bool{}
	var k []byte
	_, err = pgx.ForEachRow(rows, []any{&k}, func() error {
		out[[32]byte(k)] = true
		return nil
	})
	return out, store.Error(err)
}

// Begin opens an import's transaction. The user must have an account: an import
// for a user that does not exist is refused (dossier.ErrUnknownUser), and one
// for an account that is not a patient's (dossier.ErrNotPatient); either stores
// nothing. The account row is locked (FOR KEY SHARE) until the commit, so it
// cannot be deleted half-way. The user's imports are serialised by a
// transaction-scoped advisory lock on the user id, taken first: a second import
// waits here until the first commits or rolls back, and then reads the patient
// the first one stored (the one-patient check, PGOK-FR022). An advisory lock
// rather than a row lock on the account, so that logins and account changes do
// not wait for a long import.
func (s *Store) Begin(ctx context.Context, userID string) (dossier.Writer, error) {
	tx, err := s.db.Pool.Begin(ctx)
	if err != nil {
		return nil, store.Error(err)
	}
	if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock(hashtext('pgo: dossier import'), hashtext($1::text))`, userID); err != nil {
		tx.Rollback(ctx)
		return nil, store.Error(err)
	}
	var role string
	err = tx.QueryRow(ctx, `select role from accounts where id = $1 for key share`, userID).Scan(&role)
	if err != nil {
		tx.Rollback(ctx)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, dossier.ErrUnknownUser
		}
		return nil, store.Error(err)
	}
	if role != string(account.RolePatient) {
		tx.Rollback(ctx)
		return nil, dossier.ErrNotPatient
	}
	return &writer{tx: tx}, nil
}

// writer is one import's transaction: batches of rows, then the audit record.
type writer struct{ tx pgx.Tx }

var importColumns = []string{"id", "user_id", "import_id", "fhir_version", "resource_type", "category", "ref_key", "ref_key_id", "sealed_binding", "sealed"}

// Write replaces the user's resources with the same keys and copies rows in.
func (w *writer) Write(ctx context.Context, userID, importID string, rows []dossier.Row, replace [][]byte) error {
	if _, err := w.tx.Exec(ctx, `delete from dossier_resource where user_id = $1 and ref_key = any($2)`, userID, replace); err != nil {
		return store.Error(err)
	}
	src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		r := rows[i]
		return []any{r.ID, userID, importID, string(r.Version), r.Type, string(r.Category), r.RefKey, int64(r.RefKeyID), string(r.Binding), r.Sealed}, nil
	})
	_, err := w.tx.CopyFrom(ctx, pgx.Identifier{"dossier_resource"}, importColumns, src)
	return store.Error(err)
}

// Patient returns the keys of the dossier's patient.
func (w *writer) Patient(ctx context.Context, userID string) ([]dossier.PatientKey, error) {
	rows, err := w.tx.Query(ctx, `select kind, ref_key, ref_key_id from dossier_patient where user_id = $1 order by kind`, userID)
	if err != nil {
		return nil, store.Error(err)
	}
	var out []dossier.PatientKey
	var k dossier.PatientKey
	var id int64
	_, err = pgx.ForEachRow(rows, []any{&k.Kind, &k.Key, &id}, func() error {
		k.KeyID = uint32(id)
		out = append(out, k)
		k = dossier.PatientKey{}
		return nil
	})
	return out, store.Error(err)
}

// SetPatient stores keys of the dossier's patient, one row per kind.
func (w *writer) SetPatient(ctx context.Context, userID string, keys []dossier.PatientKey) error {
	for _, k := range keys {
		if _, err := w.tx.Exec(ctx, `insert into dossier_patient (user_id, kind, ref_key, ref_key_id) values ($1, $2, $3, $4)
			on conflict (user_id, kind) do update set ref_key = excluded.ref_key, ref_key_id = excluded.ref_key_id`,
			userID, k.Kind, k.Key, int64(k.KeyID)); err != nil {
			return store.Error(err)
		}
	}
	return nil
}

// Commit appends the audit record and commits.
func (w *writer) Commit(ctx context.Context, info dossier.ImportInfo, total int) error {
	if err := auditdb.Append(ctx, w.tx, importEvent(info, total)); err != nil {
		return store.Error(err)
	}
	return store.Error(w.tx.Commit(ctx))
}

// Refused appends the audit record of a refused import in a transaction of its
// own (auditdb.Record): nothing else of the import was stored.
func (s *Store) Refused(ctx context.Context, info dossier.ImportInfo, reason string) error {
	ev := importEvent(info, 0)
	ev.Outcome, ev.Reason = audit.Failure, reason
	ev.Details = nil
	if info.Source != "" {
		ev.Details = map[string]string{"source": info.Source}
	}
	return store.Error(auditdb.Record(ctx, s.db, ev))
}

// Rollback ends the transaction; after Commit it does nothing.
func (w *writer) Rollback(ctx context.Context) { _ = w.tx.Rollback(ctx) }

func importEvent(info dossier.ImportInfo, total int) audit.Event {
	details := map[string]string{
		"fhir_version": string(info.Version), "source": info.Source, "resources": strconv.Itoa(total),
	}
	for c, n := range info.Counts {
		details["count_"+string(c)] = strconv.Itoa(n)
	}
	return audit.Event{
		Time: time.Now().UTC(), Action: audit.ActDossierImported, Outcome: audit.Success,
		PersonID: info.UserID, ActorType: audit.ActorType(info.ActorType), ActorID: info.ActorID,
		ObjectType: "dossier_import", ObjectID: info.ID, RequestID: info.RequestID,
		CorrelationID: info.Correlated, Details: details,
	}
}

// Counts counts the user's resources per category.
func (s *Store) Counts(ctx context.Context, userID string) (map[dossier.Category]int, error) {
	rows, err := s.db.Pool.Query(ctx, `select category, count(*) from dossier_resource where user_id = $1 group by category`, userID)
	if err != nil {
		return nil, store.Error(err)
	}
	out := map[dossier.Category]int{}
	var c string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&c, &n}, func() error {
		out[dossier.Category(c)] = n
		return nil
	})
	return out, store.Error(err)
}

// rowColumns are what dossier.Row holds of a stored resource, in scanRows' order.
const rowColumns = `id, import_id, fhir_version, resource_type, category, ref_key, sealed_binding, sealed`

// Rows returns the user's resources of the given categories in import order.
func (s *Store) Rows(ctx context.Context, userID string, cats []dossier.Category) ([]dossier.Row, error) {
	return s.scanRows(ctx, `select `+rowColumns+`
		from dossier_resource where user_id = $1 and category = any($2) order by seq`, userID, categoryNames(cats))
}

// FirstRows returns the first n resources of each of the given categories in
// import order (the order Rows and the document use), and the user's first
// Patient, which the cover names, when it is not among them. Each category's
// rows are read in order from the index on (user_id, category, seq) and cut in
// the query (a lateral join per category), so the work does not grow with the
// dossier. A Patient is always of category patient (dossier.Classify).
func (s *Store) FirstRows(ctx context.Context, userID string, cats []dossier.Category, n int) ([]dossier.Row, error) {
	return s.scanRows(ctx, `select `+rowColumns+` from (
			select r.* from unnest($2::text[]) as c(category)
			cross join lateral (select * from dossier_resource d
				where d.user_id = $1 and d.category = c.category order by d.seq limit $3) r
			union
			(select * from dossier_resource where user_id = $1 and category = $4 and resource_type = 'Patient'
				order by seq limit 1)
		) f order by seq`, userID, categoryNames(cats), n, string(dossier.CatPatient))
}

// RowsByRefKey returns the user's resources whose ref key is one of keys, in
// import order.
func (s *Store) RowsByRefKey(ctx context.Context, userID string, keys [][]byte) ([]dossier.Row, error) {
	return s.scanRows(ctx, `select `+rowColumns+`
		from dossier_resource where user_id = $1 and ref_key = any($2) order by seq`, userID, keys)
}

func categoryNames(cats []dossier.Category) []string {
	names := make([]string, len(cats))
	for i, c := range cats {
		names[i] = string(c)
	}
	return names
}

func (s *Store) scanRows(ctx context.Context, query string, args ...any) ([]dossier.Row, error) {
	rows, err := s.db.Pool.Query(ctx, query, args...)
	if err != nil {
		return nil, store.Error(err)
	}
	var out []dossier.Row
	var r dossier.Row
	var version, category string
	var binding string
	_, err = pgx.ForEachRow(rows, []any{&r.ID, &r.ImportID, &version, &r.Type, &category, &r.RefKey, &binding, &r.Sealed}, func() error {
		r.Version, r.Category, r.Binding = fhir.Version(version), dossier.Category(category), dossier.Binding(binding)
		out = append(out, r)
		r = dossier.Row{}
		return nil
	})
	return out, store.Error(err)
}
