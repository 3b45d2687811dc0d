package server

import (
	"context"
	"net/url"
	"testing"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
)

// The auditor's ?person= filter is free text: only a value that names a patient is
// recorded as the person the view is about; anything else (a stranger's UUID, the
// auditor's own id, junk) stays in the record's details only (issue 13).
func TestAuditorPersonFilterIsNotAPatient(t *testing.T) {
	f := newAuditFixture(t)
	auditorID := ""
	list, _ := f.e.svc.List(context.Background())
	for _, a := range list {
		if a.Name == "eva" {
			auditorID = a.ID
		}
	}
	for _, v := range []struct{ value, want string }{
		{"6f1c1a52-3b7e-4c11-9a57-0d3f7b1e2a90", ""}, // no such account
		{auditorID, ""}, // an account, but no patient
		{"iemand", ""},  // not an id at all
		{f.janID, f.janID},
	} {
		if w := f.auditor.get("/audit?person=" + url.QueryEscape(v.value)); w.Code != 200 {
			t.Fatalf("filter %q: status %d", v.value, w.Code)
		}
		last := lastView(t, f)
		if last.PersonID != v.want || last.Details["filter.person"] != v.value {
			t.Errorf("filter %q: recorded person %q, details %v; want person %q and the value in the details",
				v.value, last.PersonID, last.Details, v.want)
		}
	}
}

// lastView is the newest audit_viewed record.
func lastView(t *testing.T, f *auditFixture) audit.Record {
	t.Helper()
	var last audit.Record
	err := auditdb.Scan(context.Background(), f.e.db.Pool, audit.Filter{Actions: []audit.Action{audit.ActAuditViewed}},
		func(r *audit.Record) error {
			if r.Seq > last.Seq {
				last = *r
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return last
}
