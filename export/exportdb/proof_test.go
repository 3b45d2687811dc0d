package exportdb_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// losing wraps the dossier so that one item claims a string its rows do not
// show: the layout "loses" it, as a renderer bug would.
type losing struct{ export.Summarizer }

func (l losing) Summary(ctx context.Context, userID string, cats []dossier.Category) (dossier.Summary, error) {
	s, err := l.Summarizer.Summary(ctx, userID, cats)
	if err == nil && len(s.Sections) > 1 && len(s.Sections[1].Items) > 0 {
		it := &s.Sections[1].Items[0]
		it.Texts = append(it.Texts, "Deze zin komt in geen enkele rij voor")
	}
	return s, err
}

// A rendering that fails its completeness proof is a bug, not a transient error:
// the job fails permanently (reason on the job, export_failed with reason
// incomplete_document and the proof's counts), no document is stored, and the
// task is not retried.
func TestRenderFailingProofFailsJob(t *testing.T) {
	f := newFixture(t)
	f.importMedMij(t)
	jobs := export.NewJobs(export.JobsConfig{Store: exportdb.New(f.db, worker.NewRenderTask), Dossier: losing{f.dos}, Sealer: f.vault, Source: "PGO Noord"})
	job := f.request(t)
	err := jobs.Render(context.Background(), job.ID)
	var inc *export.IncompleteError
	if !errors.Is(err, export.ErrPermanent) || !errors.As(err, &inc) || inc.Proof.Missing != 1 || inc.Where != "categorie problems, item 1" {
		t.Fatalf("err = %v", err)
	}
	got := f.job(t, job.ID)
	if got.Status != export.StatusFailed || got.Failure != export.IncompleteMessage || f.documents(t, job.ID) != 0 {
		t.Fatalf("job %+v, %d documents", got, f.documents(t, job.ID))
	}
	if n := f.count(t, `select count(*) from audit_log where action = 'export_failed' and object_id = $1
		and reason = 'incomplete_document' and details->>'proof_missing' = '1'`, job.ID); n != 1 {
		t.Fatalf("%d export_failed records with the proof", n)
	}
}
