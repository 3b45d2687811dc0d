package auditdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// appRoleDB creates an application role for a fresh schema the way pgo migrate
// does, and returns a pool connected as that role.
func appRoleDB(t *testing.T) *store.DB {
	t.Helper()
	ctx := context.Background()
	owner := storetest.Schema(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	role, password := "pgo_app_t"+hex.EncodeToString(b), hex.EncodeToString(b)+"-pw"
	if err := store.GrantAppRole(ctx, owner, role, password); err != nil {
		t.Fatal(err)
	}
	if err := store.GrantAppRole(ctx, owner, role, password); err != nil { // twice is harmless
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), owner)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close(context.Background())
		for _, s := range []string{"drop owned by " + role, "drop role " + role} {
			if _, err := c.Exec(context.Background(), s); err != nil {
				t.Errorf("%s: %v", s, err)
			}
		}
	})
	u, _ := url.Parse(owner)
	u.User = url.UserPassword(role, password)
	db, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// Issue 15, finding 1: connected as the application role, the service cannot
// rewrite the audit log even if it wanted to: deleting, updating, truncating,
// disabling the triggers, switching them off with session_replication_role,
// dropping the table, removing checkpoints, moving the chain head or taking
// records off the linker's work list are all refused by PostgreSQL. What the
// service must do still works: append (also into a partition it must create),
// link, read, verify, checkpoint, and use its own tables.
func TestAppRoleCannotRewriteTheAuditLog(t *testing.T) {
	ctx := context.Background()
	db := appRoleDB(t)
	if super, err := db.IsSuperuser(ctx); err != nil || super {
		t.Fatalf("app role superuser %v (%v)", super, err)
	}
	for i := 1; i <= 3; i++ {
		if err := Record(ctx, db, event(i)); err != nil {
			t.Fatalf("append as the app role: %v", err)
		}
	}
	err := db.WithTx(ctx, func(tx pgx.Tx) error {
		_, err := appendAt(ctx, tx, event(9), time.Now().AddDate(0, 7, 0))
		return err
	})
	if err != nil {
		t.Fatalf("append into a month without a partition yet: %v", err)
	}
	if err := db.Pool.QueryRow(ctx, "select count(*) from accounts").Scan(new(int)); err != nil {
		t.Fatalf("own tables: %v", err)
	}
	for _, attack := range []string{
		"delete from audit_log where seq = 1",
		"update audit_log set person_id = 'someone-else' where seq = 2",
		"truncate audit_log",
		"alter table audit_log disable trigger audit_log_append_only",
		"drop table audit_log cascade",
		"delete from audit_checkpoint",
		"insert into audit_chain_head (id, seq, hash, recorded) values (false, 0, decode(repeat('00', 32), 'hex'), now())",
		"update audit_chain_head set seq = 0",
		"select seq from audit_chain_head for update",
		"delete from audit_pending",
	} {
		_, err := db.Pool.Exec(ctx, attack)
		if err == nil || !(strings.Contains(err.Error(), "permission denied") || strings.Contains(err.Error(), "must be owner")) {
			t.Errorf("%s: %v; want refused", attack, err)
		}
	}
	err = db.WithTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "set local session_replication_role = replica")
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("session_replication_role: %v; want refused", err)
	}
	// Linking, which moves the head, works without the right to update it.
	if n := linkAll(t, db); n != 4 {
		t.Fatalf("linked %d as the app role, want 4", n)
	}
	if res := mustVerify(t, New(db, nil)); res.Checked != 4 || res.Unlinked != 0 {
		t.Fatalf("verify after linking as the app role: %+v", res)
	}
}
