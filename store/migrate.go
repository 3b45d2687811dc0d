package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/migrations"
)

// versionTable is unqualified on purpose: it lives in the connection's search_path,
// so every test schema has its own.
const versionTable = "schema_version"

// Migrate applies the embedded migrations. tern holds a PostgreSQL advisory lock
// while it works, so two processes at once are safe: the second one finds nothing to
// do. It returns the versions before and after.
func Migrate(ctx context.Context, url string) (from, to int32, err error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, 0, Error(err)
	}
	defer conn.Close(ctx)
	m, err := migrate.NewMigrator(ctx, conn, versionTable)
	if err != nil {
		return 0, 0, Error(err)
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		return 0, 0, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	// Count what this process applies: the version read before Migrate may be
	// stale when another process holds the lock and migrates first.
	var applied int32
	m.OnStart = func(int32, string, string, string) { applied++ }
	if err := m.Migrate(ctx); err != nil {
		return 0, 0, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("migrate: %w", err), "")
	}
	to, err = m.GetCurrentVersion(ctx)
	return to - applied, to, Error(err)
}

// LatestVersion is the number of embedded migrations.
func LatestVersion() (int32, error) {
	names, err := migrate.FindMigrations(migrations.FS)
	return int32(len(names)), err
}

// MigrationsCurrent reports whether the database is at the latest migration (for /readyz).
func (db *DB) MigrationsCurrent(ctx context.Context) error {
	latest, err := LatestVersion()
	if err != nil {
		return err
	}
	var v int32
	if err := db.Pool.QueryRow(ctx, "select version from "+versionTable).Scan(&v); err != nil {
		return pgo.Wrap(pgo.EUNAVAILABLE, err, "migrations not applied")
	}
	if v != latest {
		return pgo.Errorf(pgo.EUNAVAILABLE, "migrations at version %d, want %d", v, latest)
	}
	return nil
}
