package exportdb_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// badItem is a dossier whose one item has fewer cells than its section has
// columns (a permanent render failure), under a resource id that looks like a
// BSN (a Patient's id can be one).
type badItem struct{ id string }

func (b badItem) Summary(context.Context, string, []dossier.Category) (dossier.Summary, error) {
	return dossier.Summary{
		Patient: dossier.Patient{Name: "J. Jansen", BirthDate: "1970-01-01", BSN: "afgeschermd"},
		Sections: []dossier.Section{{Category: dossier.CatProblems, Columns: []string{"Probleem", "Status"},
			Items: []dossier.Item{{ID: b.id, Cells: []string{"astma"}}}}},
	}, nil
}

// A permanent render failure caused by a dossier item carries the item's
// resource id nowhere the peer or the log sees it: not in the job's failure
// (which the Binary endpoint returns to the peer), not in the task's error
// (which the worker and asynq log, and asynq keeps in Redis), not in the
// export_failed audit record. The peer reads a fixed message.
func TestRenderFailureHidesItemID(t *testing.T) {
	const bsn = "999999990"
	f := newFixture(t)
	f.jobs = export.NewJobs(export.JobsConfig{Store: f.store, Dossier: badItem{id: "Patient/" + bsn}, Sealer: f.vault, Source: "PGO Noord"})
	job := f.request(t, dossier.CatProblems)
	payload, _ := json.Marshal(worker.RenderPayload{JobID: job.ID})
	err := worker.HandleRenderTask(f.jobs)(context.Background(), asynq.NewTask(worker.TypeExportRender, payload))
	if !errors.Is(err, asynq.SkipRetry) {
		t.Fatalf("render: %v; want a permanent failure", err)
	}
	if strings.Contains(err.Error(), bsn) {
		t.Errorf("the task's error (logged) carries the item id: %q", err)
	}
	j := f.job(t, job.ID)
	if j.Status != export.StatusFailed || j.Failure != export.InvalidDossierMessage {
		t.Errorf("job %s, failure %q; want failed with %q", j.Status, j.Failure, export.InvalidDossierMessage)
	}
	if strings.Contains(j.Failure, bsn) {
		t.Errorf("the job's failure (seen by the peer) carries the item id: %q", j.Failure)
	}
	if n := f.count(t, `select count(*) from audit_log where object_id = $1 and (reason || coalesce(details::text, '')) like '%'||$2||'%'`, job.ID, bsn); n != 0 {
		t.Errorf("%d audit records of the job carry the item id", n)
	}
}
