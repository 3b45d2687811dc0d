package auditdb

import (
	"context"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

// useTestChainKeys links records with a fresh keyset's chain key for the test.
func useTestChainKeys(t *testing.T) *vault.Vault {
	t.Helper()
	v, err := vault.Open(vaulttest.Keyset(t))
	if err != nil {
		t.Fatal(err)
	}
	UseChainKeys(v)
	t.Cleanup(func() { UseChainKeys(nil) })
	return v
}

// Issue 15, finding 1: a database superuser rewrites the tail of a keyed chain
// after the last signed checkpoint, recomputing every hash after the changed
// record (as SHA-256, or as unkeyed records) and moving the head: without the
// chain key, verify finds the first rewritten record. The untouched keyed chain
// verifies, also across a key rotation.
func TestKeyedChainRewriteDetected(t *testing.T) {
	useTestChainKeys(t)
	db, key, recs := seedChain(t, 6) // checkpoint at 6
	ctx := context.Background()
	for i := 7; i <= 10; i++ { // the tail after the checkpoint
		if err := Record(ctx, db, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	linkAll(t, db)
	recs = nil
	if err := Scan(ctx, db.Pool, audit.Filter{}, func(r *audit.Record) error { recs = append(recs, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.MACKey == 0 {
			t.Fatalf("record %d is unkeyed", r.Seq)
		}
	}
	if res, err := New(db, key).Verify(ctx, audit.VerifyOptions{}); err != nil || res.Break != nil || res.Checked != 10 {
		t.Fatalf("untouched keyed chain: %+v %v", res, err)
	}
	for _, tc := range []struct {
		name   string
		unkey  bool
		wanted string
	}{
		{"rehashed with SHA-256 under the same key id", false, "does not match its stored hash"},
		{"rewritten as unkeyed records", true, "unkeyed record follows keyed ones"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stolen := append([]audit.Record(nil), recs...)
			asSuperuser(t, db, func(exec func(string, ...any)) {
				stolen[7].PersonID = "user-someone-else"
				for i := 7; i < len(stolen); i++ {
					keyID := stolen[i].MACKey
					stolen[i].MACKey = 0 // the attacker has no key: plain SHA-256
					reseal(&stolen[i], stolen[i-1].Hash)
					if !tc.unkey {
						stolen[i].MACKey = keyID
					}
					storeResealed(exec, &stolen[i])
				}
				exec("update audit_chain_head set hash = $1", stolen[len(stolen)-1].Hash[:])
			})
			res, err := New(db, key).Verify(ctx, audit.VerifyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Break == nil || res.Break.Seq != 8 || !strings.Contains(res.Break.Problem, tc.wanted) {
				t.Fatalf("break = %v; want seq 8: %s", res.Break, tc.wanted)
			}
		})
	}
	// Without the keyset, a keyed chain cannot be checked: verify says so.
	UseChainKeys(nil)
	res, err := New(db, key).Verify(ctx, audit.VerifyOptions{})
	if err != nil || res.Break == nil || !strings.Contains(res.Break.Problem, "no keyset") {
		t.Fatalf("verify without keys: %+v %v", res.Break, err)
	}
}

// Rotating the keyset keeps old records verifiable (each names its key id),
// and records after the rotation are linked with the new primary's key.
func TestKeyedChainAcrossRotation(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	path := vaulttest.Keyset(t)
	open := func() *vault.Vault {
		v, err := vault.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v1 := open()
	UseChainKeys(v1)
	t.Cleanup(func() { UseChainKeys(nil) })
	for i := 1; i <= 3; i++ {
		if err := Record(ctx, db, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := vault.RotateKeyset(path); err != nil {
		t.Fatal(err)
	}
	v2 := open()
	UseChainKeys(v2)
	for i := 4; i <= 6; i++ {
		if err := Record(ctx, db, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	keys := map[uint32]int{}
	if err := Scan(ctx, db.Pool, audit.Filter{}, func(r *audit.Record) error { keys[r.MACKey]++; return nil }); err != nil {
		t.Fatal(err)
	}
	old, _, _ := v1.PrimaryChainKey()
	cur, _, _ := v2.PrimaryChainKey()
	if len(keys) != 2 || keys[old] != 3 || keys[cur] != 3 {
		t.Fatalf("records per chain key: %v (old %d, new %d)", keys, old, cur)
	}
	linkAll(t, db)
	if res := mustVerify(t, New(db, nil)); res.Checked != 6 {
		t.Fatalf("checked %d", res.Checked)
	}
}
