package exportdb_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
	"github.com/pgo-koppelvlak/pgo/worker"
)

var medmijPatient = shared.Path("medmij", "bgz-patA")

// fixture is the export service on a fresh schema with a real keyset.
type fixture struct {
	db     *store.DB
	keyset string
	vault  *vault.Vault
	store  *exportdb.Store
	dos    *dossier.Service
	jobs   *export.Jobs
	user   string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{db: storetest.DB(t), keyset: vaulttest.Keyset(t), user: uuid.NewString()}
	// dossier imports need an existing account
	if _, err := f.db.Pool.Exec(context.Background(), `insert into accounts (id, name, role, password_hash)
		values ($1, $2, 'patient', 'not a hash')`, f.user, "patient-"+f.user); err != nil {
		t.Fatal(err)
	}
	f.reopen(t)
	return f
}

// reopen reads the keyset again (as a restarted process does after a rotation).
func (f *fixture) reopen(t testing.TB) {
	t.Helper()
	v, err := vault.Open(f.keyset)
	if err != nil {
		t.Fatal(err)
	}
	f.vault = v
	f.store = exportdb.New(f.db, worker.NewRenderTask)
	f.dos = dossier.New(dossierdb.New(f.db), v)
	f.jobs = export.NewJobs(export.JobsConfig{Store: f.store, Dossier: f.dos, Sealer: v, Source: "PGO Noord"})
}

// importMedMij imports the MedMij test patient for f.user.
func (f *fixture) importMedMij(t testing.TB) {
	t.Helper()
	in, err := dossier.ReadPath(medmijPatient)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.dos.Import(context.Background(), f.user, in, dossier.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
}

// importGenerated imports a generated dossier of size for f.user.
func (f *fixture) importGenerated(t testing.TB, size dossier.Size, seed uint64) {
	t.Helper()
	data, err := dossier.Generate(size, seed)
	if err != nil {
		t.Fatal(err)
	}
	in, err := dossier.ReadInput(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.dos.Import(context.Background(), f.user, in, dossier.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) request(t testing.TB, cats ...dossier.Category) export.Job {
	t.Helper()
	if len(cats) == 0 {
		for _, c := range dossier.Categories {
			cats = append(cats, c.Key)
		}
	}
	job, err := f.jobs.Request(context.Background(), export.Request{
		UserID: f.user, Categories: cats, ActorType: "user", ActorID: f.user,
		RequestID: uuid.NewString(), CorrelationID: uuid.NewString(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func (f *fixture) count(t testing.TB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.Pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) audits(t testing.TB, action, jobID string) int {
	return f.count(t, `select count(*) from audit_log where action = $1 and object_id = $2`, action, jobID)
}

func (f *fixture) documents(t testing.TB, jobID string) int {
	return f.count(t, `select count(*) from export_document where job_id = $1`, jobID)
}

func (f *fixture) job(t testing.TB, id string) export.Job {
	t.Helper()
	j, err := f.jobs.Job(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// otherProcess returns a Store on a pool of its own over f's schema: reads through
// backends that did not write the documents, as `pgo serve` reads what the worker
// stored (storetest.Reopen).
func (f *fixture) otherProcess(t testing.TB) *exportdb.Store {
	t.Helper()
	return exportdb.New(storetest.Reopen(t, f.db), worker.NewRenderTask)
}
