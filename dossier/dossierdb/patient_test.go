package dossierdb_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/fhir"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
)

// Two valid BSNs (elfproef): the dossier's patient's and someone else's.
const (
	ownBSN   = "999911120"
	otherBSN = "999990019"
)

func patientWithBSN(id, bsn string) string {
	return fmt.Sprintf(`{"resourceType":"Patient","id":%q,"identifier":[{"system":%q,"value":%q}]}`, id, fhir.BSNSystem, bsn)
}

// conditionOf is a Condition whose subject is the given JSON (and contained, if
// not empty, its contained resources).
func conditionOf(id, subject, contained string) string {
	c := ""
	if contained != "" {
		c = `"contained":[` + contained + `],`
	}
	return fmt.Sprintf(`{"resourceType":"Condition","id":%q,%s"clinicalStatus":"active","verificationStatus":"confirmed","code":{"text":"Astma"},"subject":%s}`, id, c, subject)
}

func bsnSubject(bsn string) string {
	return fmt.Sprintf(`{"identifier":{"system":%q,"value":%q}}`, fhir.BSNSystem, bsn)
}

func (f *fixture) importJSON(t *testing.T, data []byte) (dossier.Result, error) {
	t.Helper()
	in, err := dossier.ReadInput(data)
	if err != nil {
		t.Fatal(err)
	}
	return f.svc.Import(context.Background(), f.user, in, dossier.ImportOptions{})
}

func refusedAsMixed(t *testing.T, err error, want string) {
	t.Helper()
	if pgo.ErrorCode(err) != pgo.EINVALID || !strings.Contains(pgo.ErrorMessage(err), want) || !strings.Contains(pgo.ErrorMessage(err), "one person's data") {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if strings.Contains(pgo.ErrorMessage(err), otherBSN) || strings.Contains(pgo.ErrorMessage(err), ownBSN) {
		t.Fatalf("a BSN in the message: %s", pgo.ErrorMessage(err))
	}
}

// The one-patient check also covers a subject that is a contained Patient and a
// logical subject (an identifier, no reference): another person's BSN is refused
// with the entry and path (never the BSN); the dossier's own BSN is fine.
func TestImportRefusesAnotherPatientByBSN(t *testing.T) {
	contained := func(id, bsn string) string {
		if bsn == "" {
			return conditionOf(id, `{"reference":"#pat"}`, `{"resourceType":"Patient","id":"pat","name":[{"family":"Jansen"}]}`)
		}
		return conditionOf(id, `{"reference":"#pat"}`, `{"resourceType":"Patient","id":"pat","identifier":[{"system":"`+fhir.BSNSystem+`","value":"`+bsn+`"}]}`)
	}
	immunization := `{"resourceType":"Immunization","id":"i1","status":"completed","notGiven":false,"primarySource":true,"vaccineCode":{"text":"Griep"},"patient":` + bsnSubject(otherBSN) + `,"date":"2024-10-12"}`
	for _, tt := range []struct {
		name, second, want string
	}{
		{"contained Patient, another BSN", contained("c1", otherBSN), "entry 1: Condition.subject: refers to a contained Patient that is not the dossier's patient"},
		{"contained Patient without BSN", contained("c1", ""), "entry 1: Condition.subject: refers to a contained Patient that is not the dossier's patient"},
		{"logical subject, another BSN", conditionOf("c1", bsnSubject(otherBSN), ""), "entry 1: Condition.subject: refers to another patient than the dossier's (by BSN)"},
		{"logical patient, another BSN", immunization, "entry 1: Immunization.patient: refers to another patient than the dossier's (by BSN)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			_, err := f.importJSON(t, bundle(t, "collection", patientWithBSN("p1", ownBSN), tt.second))
			refusedAsMixed(t, err, tt.want)
			if f.rows(t) != 0 || f.audits(t) != 0 {
				t.Fatalf("rows %d audits %d after a refused import", f.rows(t), f.audits(t))
			}
		})
	}
	f := newFixture(t)
	if _, err := f.importJSON(t, bundle(t, "collection", patientWithBSN("p1", ownBSN),
		conditionOf("c1", bsnSubject(ownBSN), ""), contained("c2", ownBSN))); err != nil {
		t.Fatalf("the dossier's own BSN: %v", err)
	}
	// later imports compare with the stored patient's BSN
	_, err := f.importJSON(t, []byte(conditionOf("c3", bsnSubject(otherBSN), "")))
	refusedAsMixed(t, err, "Condition.subject: refers to another patient than the dossier's (by BSN)")
	if _, err := f.importJSON(t, []byte(conditionOf("c3", bsnSubject(ownBSN), ""))); err != nil || f.rows(t) != 4 {
		t.Fatalf("own BSN later: %v, rows %d", err, f.rows(t))
	}
}

// The first import fixes the dossier's patient also when it holds no Patient
// resource: loose resources about Patient/px, then about Patient/py, are refused
// (each import used to pick its own patient). The patient is stored as ref keys
// (no id, no BSN in the clear) and survives a key rotation.
func TestImportFixesPatientOfLooseResources(t *testing.T) {
	v, keyset := vaulttest.New(t)
	db := storetest.DB(t)
	f := &fixture{db: db, svc: dossier.New(dossierdb.New(db), v), user: uuid.NewString(), vault: v}
	addAccount(t, db, f.user)
	about := func(id, patient string) []byte {
		return []byte(conditionOf(id, `{"reference":"Patient/`+patient+`"}`, ""))
	}
	if res, err := f.importJSON(t, about("c1", "px")); err != nil || len(res.Warnings) != 1 {
		t.Fatalf("first: %v %+v", err, res)
	}
	_, err := f.importJSON(t, about("c2", "py"))
	refusedAsMixed(t, err, "Condition.subject: refers to another patient than the dossier's")
	_, err = f.importJSON(t, bundle(t, "collection", patientWithBSN("py", otherBSN)))
	refusedAsMixed(t, err, "entry 0: Patient: another patient than the one this dossier holds")
	if f.rows(t) != 1 || f.audits(t) != 1 {
		t.Fatalf("rows %d audits %d", f.rows(t), f.audits(t))
	}
	legacy := dossier.LegacyRefKey(f.user, "Patient", "px")
	if n := f.count(t, `select count(*) from dossier_patient where user_id = $1 and kind = 'Patient' and ref_key <> $2`, f.user, legacy[:]); n != 1 {
		t.Fatalf("%d keyed patient rows", n)
	}
	// the Patient itself, with its BSN, is the same person: accepted, and its BSN
	// now belongs to the dossier
	if _, err := f.importJSON(t, bundle(t, "collection", patientWithBSN("px", ownBSN), string(about("c2", "px")))); err != nil {
		t.Fatalf("the dossier's patient: %v", err)
	}
	_, err = f.importJSON(t, []byte(conditionOf("c3", bsnSubject(otherBSN), "")))
	refusedAsMixed(t, err, "Condition.subject: refers to another patient than the dossier's (by BSN)")

	k, err := vault.RotateKeyset(keyset)
	if err != nil {
		t.Fatal(err)
	}
	if v, err = vault.Open(keyset); err != nil {
		t.Fatal(err)
	}
	f.svc = dossier.New(dossierdb.New(db), v)
	_, err = f.importJSON(t, about("c4", "py"))
	refusedAsMixed(t, err, "Condition.subject: refers to another patient than the dossier's")
	if _, err := f.importJSON(t, about("c4", "px")); err != nil {
		t.Fatalf("after a rotation: %v", err)
	}
	if n := f.count(t, `select count(*) from dossier_patient where user_id = $1 and kind = 'Patient' and ref_key_id = $2`, f.user, int64(k.ID)); n != 1 {
		t.Fatal("the patient key was not moved to the new primary key")
	}

	// the same for a dossier of logical references only: the first BSN fixes it
	g := newFixture(t)
	if _, err := g.importJSON(t, []byte(conditionOf("c1", bsnSubject(ownBSN), ""))); err != nil {
		t.Fatal(err)
	}
	_, err = g.importJSON(t, []byte(conditionOf("c2", bsnSubject(otherBSN), "")))
	refusedAsMixed(t, err, "Condition.subject: refers to another patient than the dossier's (by BSN)")
}

// commitGate holds each import's commit until two imports have reached it, or
// until wait has passed: without a lock, two concurrent imports overlap fully.
type commitGate struct {
	dossier.Store
	mu      sync.Mutex
	arrived int
	both    chan struct{}
	wait    time.Duration
}

func (g *commitGate) Begin(ctx context.Context, userID string) (dossier.Writer, error) {
	w, err := g.Store.Begin(ctx, userID)
	if err != nil {
		return nil, err
	}
	return gatedWriter{w, g}, nil
}

type gatedWriter struct {
	dossier.Writer
	g *commitGate
}

func (w gatedWriter) Commit(ctx context.Context, info dossier.ImportInfo, total int) error {
	w.g.mu.Lock()
	if w.g.arrived++; w.g.arrived == 2 {
		close(w.g.both)
	}
	w.g.mu.Unlock()
	select {
	case <-w.g.both:
	case <-time.After(w.g.wait):
	}
	return w.Writer.Commit(ctx, info, total)
}

// Two imports of different patients for one user at the same moment: the store
// serialises them, so the second sees the first's patient and is refused; the
// dossier holds one patient.
func TestConcurrentImportsOfTwoPatients(t *testing.T) {
	f := newFixture(t)
	gate := &commitGate{Store: dossierdb.New(f.db), both: make(chan struct{}), wait: 2 * time.Second}
	svc := dossier.New(gate, f.vault)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, p := range []string{patientWithBSN("pa", ownBSN), patientWithBSN("pb", otherBSN)} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in, err := dossier.ReadInput(bundle(t, "collection", p))
			if err == nil {
				_, err = svc.Import(context.Background(), f.user, in, dossier.ImportOptions{})
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			refusedAsMixed(t, err, "entry 0: Patient: another patient than the one this dossier holds")
			failed++
		}
	}
	patients := f.count(t, `select count(*) from dossier_resource where user_id = $1 and resource_type = 'Patient'`, f.user)
	if failed != 1 || patients != 1 || f.audits(t) != 1 {
		t.Fatalf("%d refused, %d patients, %d audit records (errors %v)", failed, patients, f.audits(t), errs)
	}
}

// The rewrap task's re-keying (after `pgo keys rotate`) moves the keys of the
// dossier's patient too, also for a dossier without a Patient resource: the old
// key may then leave the keyset without the dossier forgetting its patient.
func TestReKeyMovesPatientKeys(t *testing.T) {
	ctx := context.Background()
	r := &rotFixture{db: storetest.DB(t), keyset: vaulttest.Keyset(t), user: uuid.NewString()}
	r.st = dossierdb.New(r.db)
	addAccount(t, r.db, r.user)
	svc, _ := r.svc(t)
	loose := func(resource string) error {
		in, err := dossier.ReadInput([]byte(resource))
		if err != nil {
			t.Fatal(err)
		}
		_, err = svc.Import(ctx, r.user, in, dossier.ImportOptions{})
		return err
	}
	for _, res := range []string{conditionOf("c1", `{"reference":"Patient/px"}`, ""), conditionOf("c2", bsnSubject(ownBSN), "")} {
		if err := loose(res); err != nil {
			t.Fatal(err)
		}
	}
	k, err := vault.RotateKeyset(r.keyset)
	if err != nil {
		t.Fatal(err)
	}
	svc, _ = r.svc(t)
	for after := ""; ; {
		res, err := svc.ReKey(ctx, r.st, after, 1)
		if err != nil || res.Failed != 0 {
			t.Fatalf("%v %+v", err, res)
		}
		if after = res.Next; after == "" {
			break
		}
	}
	var n int
	if err := r.db.Pool.QueryRow(ctx, `select count(*) from dossier_patient where user_id = $1 and ref_key_id = $2`, r.user, int64(k.ID)).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d of 2 patient keys on the new key (%v)", n, err)
	}
	for _, tt := range []struct {
		resource string
		ok       bool
	}{
		{conditionOf("c3", `{"reference":"Patient/py"}`, ""), false},
		{conditionOf("c3", bsnSubject(otherBSN), ""), false},
		{conditionOf("c3", `{"reference":"Patient/px"}`, ""), true},
	} {
		if err := loose(tt.resource); (err == nil) != tt.ok {
			t.Fatalf("%s: %v", tt.resource, err)
		}
	}
}
