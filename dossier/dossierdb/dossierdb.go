// Package dossierdb stores the dossier (package dossier) in PostgreSQL: resources as
// sealed rows, written with COPY in one transaction together with their audit record.
package dossierdb

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

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

// Save replaces the user's resources with the same keys, copies the new rows in and
// appends the audit record, all in one transaction. The user must have an account:
// an import for a user that does not exist is refused (dossier.ErrUnknownUser) and
// stores nothing. The account row is locked (FOR KEY SHARE) until the commit, so it
// cannot be deleted half-way.
func (s *Store) Save(ctx context.Context, info dossier.ImportInfo, rows []dossier.Row) error {
	keys := make([][]byte, len(rows))
	for i, r := range rows {
		keys[i] = r.RefKey
	}
	return s.db.WithTx(ctx, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `select 1 from accounts where id = $1 for key share`, info.UserID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return dossier.ErrUnknownUser
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from dossier_resource where user_id = $1 and ref_key = any($2)`, info.UserID, keys); err != nil {
			return err
		}
		src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := rows[i]
			return []any{r.ID, info.UserID, info.ID, string(r.Version), r.Type, string(r.Category), r.RefKey, r.Sealed}, nil
		})
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"dossier_resource"},
			[]string{"id", "user_id", "import_id", "fhir_version", "resource_type", "category", "ref_key", "sealed"}, src); err != nil {
			return err
		}
		return auditdb.Append(ctx, tx, importEvent(info, len(rows)))
	})
}

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

// Rows returns the user's resources of the given categories in import order.
func (s *Store) Rows(ctx context.Context, userID string, cats []dossier.Category) ([]dossier.Row, error) {
	names := make([]string, len(cats))
	for i, c := range cats {
		names[i] = string(c)
	}
	rows, err := s.db.Pool.Query(ctx, `select id, import_id, fhir_version, resource_type, category, ref_key, sealed
		from dossier_resource where user_id = $1 and category = any($2) order by seq`, userID, names)
	if err != nil {
		return nil, store.Error(err)
	}
	var out []dossier.Row
	var r dossier.Row
	var version, category string
	_, err = pgx.ForEachRow(rows, []any{&r.ID, &r.ImportID, &version, &r.Type, &category, &r.RefKey, &r.Sealed}, func() error {
		r.Version, r.Category = fhir.Version(version), dossier.Category(category)
		out = append(out, r)
		r = dossier.Row{}
		return nil
	})
	return out, store.Error(err)
}
