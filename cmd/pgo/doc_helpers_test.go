package main

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// addAccount creates a patient account with the given id in the database of vars:
// a dossier import is refused for a user that does not exist (issue 14).
func addAccount(t *testing.T, vars map[string]string, id string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, vars["PGO_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `insert into accounts (id, name, role, password_hash) values ($1, $2, 'patient', 'not a hash')`,
		id, "patient-"+id); err != nil {
		t.Fatal(err)
	}
}
