package store

import (
	"context"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
)

// roleName is what an application role may be called: a plain identifier, so
// that it never needs quoting in a URL or a pg_hba.conf line.
var roleName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// auditGrants are the audit tables' privileges for the application role: append
// and read only (NEN 7513: records are never changed or removed). Linking
// (issue 16) locks the chain head through audit_lock_head and is an INSERT into
// audit_link, whose trigger checks it, moves the chain head and takes the
// records off audit_pending, all with their owner's rights: the role can neither
// move the head nor delete from the work list itself. Without UPDATE, DELETE or
// TRUNCATE, and owning nothing, the role cannot disable the append-only
// triggers either (that needs the owner), nor set session_replication_role
// (that needs a superuser).
var auditGrants = map[string]string{
	"audit_log":        "select, insert",
	"audit_link":       "select, insert",
	"audit_pending":    "select, insert",
	"audit_record":     "select",
	"audit_chain_head": "select",
	"audit_checkpoint": "select, insert",
	versionTable:       "select",
}

// GrantAppRole creates the application role (LOGIN, not superuser, no CREATE
// anywhere) when it does not exist, sets its password when one is given, and
// grants it, in the schema the migrations ran in, full use of the service's own
// tables and only what auditGrants says on the audit tables. `pgo migrate` runs
// it after the migrations, as the owner; running it again is harmless and picks
// up the tables of newer migrations.
func GrantAppRole(ctx context.Context, url, role, password string) error {
	if !roleName.MatchString(role) {
		return pgo.Errorf(pgo.EINVALID, "application role %q: use lower-case letters, digits and _", role)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return Error(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		return Error(err)
	}
	defer tx.Rollback(ctx)
	// One at a time: two `pgo migrate` at once would race on CREATE ROLE and on
	// the grants ("tuple concurrently updated").
	if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock(hashtext('pgo: grant application role'))`); err != nil {
		return Error(err)
	}
	if err := ensureRole(ctx, tx, role, password); err != nil {
		return err
	}
	if err := grantTables(ctx, tx, role); err != nil {
		return err
	}
	return Error(tx.Commit(ctx))
}

func ensureRole(ctx context.Context, tx pgx.Tx, role, password string) error {
	id := pgx.Identifier{role}.Sanitize()
	var exists bool
	if err := tx.QueryRow(ctx, `select exists (select 1 from pg_roles where rolname = $1)`, role).Scan(&exists); err != nil {
		return Error(err)
	}
	if !exists {
		if _, err := tx.Exec(ctx, `create role `+id+` login nosuperuser nocreatedb nocreaterole noinherit`); err != nil {
			return Error(err)
		}
	}
	if password != "" {
		// The password goes as a literal (ALTER ROLE takes no parameters); quoted
		// by the driver's own literal escaping.
		lit, err := quoteLiteral(password)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `alter role `+id+` password `+lit); err != nil {
			return Error(err)
		}
	}
	return nil
}

func grantTables(ctx context.Context, tx pgx.Tx, role string) error {
	id := pgx.Identifier{role}.Sanitize()
	rows, err := tx.Query(ctx, `select c.relname from pg_class c
		where c.relnamespace = current_schema()::regnamespace and c.relkind in ('r', 'p', 'v') and not c.relispartition`)
	if err != nil {
		return Error(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return Error(err)
	}
	var schema string
	if err := tx.QueryRow(ctx, `select current_schema()`).Scan(&schema); err != nil {
		return Error(err)
	}
	sid := pgx.Identifier{schema}.Sanitize()
	stmts := []string{`grant usage on schema ` + sid + ` to ` + id, `grant usage, select on all sequences in schema ` + sid + ` to ` + id}
	for _, t := range tables {
		privs, audit := auditGrants[t]
		if !audit {
			privs = "select, insert, update, delete"
		}
		tid := pgx.Identifier{schema, t}.Sanitize()
		stmts = append(stmts, `revoke all on `+tid+` from `+id, fmt.Sprintf(`grant %s on %s to %s`, privs, tid, id))
	}
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return Error(err)
		}
	}
	return nil
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings
// on: only single quotes are doubled); a NUL byte cannot be in a password.
func quoteLiteral(s string) (string, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return "", pgo.Errorf(pgo.EINVALID, "application role password: contains a NUL byte")
		}
	}
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\'')), nil
}

// IsSuperuser reports whether the pool's connection role is a PostgreSQL
// superuser: pgo serve says so loudly, since such a connection could disable
// the audit log's append-only triggers itself.
func (db *DB) IsSuperuser(ctx context.Context) (bool, error) {
	var super bool
	err := db.Pool.QueryRow(ctx, `select rolsuper from pg_roles where rolname = current_user`).Scan(&super)
	return super, Error(err)
}
