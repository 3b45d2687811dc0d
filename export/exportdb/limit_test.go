package exportdb_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
)

// summaryOnly hides the dossier's Counts: Render sees the items only in the
// loaded Summary (as when the dossier grew between the count and the load).
type summaryOnly struct{ export.Summarizer }

// countingSummaries is the dossier that counts how often a Summary was loaded.
type countingSummaries struct {
	*dossier.Service
	loads int
}

func (c *countingSummaries) Summary(ctx context.Context, userID string, cats []dossier.Category) (dossier.Summary, error) {
	c.loads++
	return c.Service.Summary(ctx, userID, cats)
}

// A job whose selection holds more items than one document may (MaxItems,
// PGO_EXPORT_MAX_ITEMS) fails for good before anything is laid out: status failed
// with the fixed TooLargeMessage, an export_failed record with reason too_large,
// no document, no progress, no retry. When the dossier can count, the Summary is
// not even loaded; when it cannot, the loaded Summary's items are counted. At
// exactly the maximum the job renders, and its proof counts the same items as the
// dossier's counts (the number the consent screen checks).
func TestRenderOverMaxItemsFailsJob(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.importMedMij(t)
	cats := []dossier.Category{dossier.CatProblems, dossier.CatResults, dossier.CatMedication}
	counts, err := f.dos.Counts(ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	n := export.SelectedItems(counts, cats)
	if n < 2 {
		t.Fatalf("the MedMij patient's selection holds %d items; the test needs more", n)
	}
	counting := &countingSummaries{Service: f.dos}
	for name, d := range map[string]export.Summarizer{"counted": counting, "loaded": summaryOnly{f.dos}} {
		f.jobs = export.NewJobs(export.JobsConfig{Store: f.store, Dossier: d, Sealer: f.vault, Source: "PGO Noord", MaxItems: n - 1})
		job := f.request(t, cats...)
		err := f.jobs.Render(ctx, job.ID)
		var tooLarge *export.TooLargeError
		if !errors.Is(err, export.ErrPermanent) || !errors.As(err, &tooLarge) || tooLarge.Items != n || tooLarge.Max != n-1 {
			t.Fatalf("%s: %d items over a maximum of %d: err %v; want a permanent TooLargeError", name, n, n-1, err)
		}
		j := f.job(t, job.ID)
		if j.Status != export.StatusFailed || j.Failure != export.TooLargeMessage || j.Total != 0 || f.documents(t, job.ID) != 0 {
			t.Errorf("%s: job %s %q, progress %d/%d, %d documents; want failed, %q, nothing laid out, none",
				name, j.Status, j.Failure, j.Done, j.Total, f.documents(t, job.ID), export.TooLargeMessage)
		}
		var reason, items string
		if err := f.db.Pool.QueryRow(ctx, `select reason, details->>'items' from audit_log where action = 'export_failed' and object_id = $1`,
			job.ID).Scan(&reason, &items); err != nil || reason != "too_large" {
			t.Errorf("%s: export_failed record: %v, reason %q", name, err, reason)
		}
		if err := f.jobs.Render(ctx, job.ID); err != nil || f.audits(t, "export_failed", job.ID) != 1 {
			t.Errorf("%s: second delivery: %v", name, err)
		}
	}
	if counting.loads != 0 {
		t.Errorf("a selection over the maximum was loaded %d times; the counts tell before", counting.loads)
	}
	// exactly the maximum renders, and lays out the counted items
	f.jobs = export.NewJobs(export.JobsConfig{Store: f.store, Dossier: f.dos, Sealer: f.vault, Source: "PGO Noord", MaxItems: n})
	job := f.request(t, cats...)
	if err := f.jobs.Render(ctx, job.ID); err != nil {
		t.Fatalf("%d items at a maximum of %d: %v", n, n, err)
	}
	if j := f.job(t, job.ID); j.Status != export.StatusReady || j.Proof.Items != n || f.documents(t, job.ID) != 1 {
		t.Errorf("at the maximum: job %s, %d items proven, %d documents; want ready, %d, 1", j.Status, j.Proof.Items, f.documents(t, job.ID), n)
	}
}
