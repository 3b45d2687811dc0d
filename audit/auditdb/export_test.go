package auditdb

import (
	"bufio"
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/fhir/go/fhirversion"
	"github.com/google/fhir/go/jsonformat"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

var testSource = audit.Source{Name: "PGO Noord", URL: "https://noord.pgo.test"}

// parseR4 parses one FHIR R4 resource with google/fhir (validating required
// elements, codes and date formats) and returns it.
func parseR4(t testing.TB, b []byte) *bcrpb.ContainedResource {
	t.Helper()
	u, err := jsonformat.NewUnmarshaller("UTC", fhirversion.R4)
	if err != nil {
		t.Fatal(err)
	}
	m, err := u.Unmarshal(b)
	if err != nil {
		t.Fatalf("not valid FHIR R4: %v\n%s", err, b)
	}
	return m.(*bcrpb.ContainedResource)
}

func TestExportIsValidFHIR(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	events := []audit.Event{
		event(1),
		{Action: audit.ActLoginFailed, Outcome: audit.Failure, Reason: "bad_password", ActorType: audit.ActorUser,
			ActorID: "u-42", SourceIP: "2001:db8::1", UserAgent: "Mozilla/5.0 <x>", RequestID: "r-9"},
		{Action: audit.ActAuditPruned, Outcome: audit.Success, ActorType: audit.ActorSystem, ActorID: "pgo audit prune"},
		{Action: audit.ActConsentGranted, Outcome: audit.Success, PersonID: "u-42", ActorType: audit.ActorUser, ActorID: "u-42",
			Role: audit.RoleSource, ObjectType: "consent", ObjectID: "c-1", CorrelationID: "corr-2"},
	}
	for _, ev := range events {
		if err := Record(ctx, db, ev); err != nil {
			t.Fatal(err)
		}
	}
	s := New(db, nil)
	var nd bytes.Buffer
	n, err := audit.ExportNDJSON(ctx, &nd, s, audit.Filter{}, testSource)
	if err != nil || n != int64(len(events)) {
		t.Fatalf("ExportNDJSON = %d, %v", n, err)
	}
	sc := bufio.NewScanner(&nd)
	lines := 0
	for sc.Scan() {
		ae := parseR4(t, sc.Bytes()).GetAuditEvent()
		if ae == nil || ae.GetRecorded() == nil || len(ae.GetAgent()) == 0 {
			t.Fatalf("line %d: not an AuditEvent with recorded and agent: %s", lines+1, sc.Text())
		}
		lines++
	}
	if lines != len(events) {
		t.Fatalf("%d lines, want %d", lines, len(events))
	}
	var bundle bytes.Buffer
	if _, err := audit.ExportBundle(ctx, &bundle, s, audit.Filter{CorrelationID: "corr-2"}, testSource); err != nil {
		t.Fatal(err)
	}
	b := parseR4(t, bundle.Bytes()).GetBundle()
	if b == nil || len(b.GetEntry()) != 1 || b.GetEntry()[0].GetResource().GetAuditEvent() == nil {
		t.Fatalf("bundle: %s", bundle.String())
	}
	var empty bytes.Buffer
	if _, err := audit.ExportBundle(ctx, &empty, s, audit.Filter{CorrelationID: "none"}, testSource); err != nil {
		t.Fatal(err)
	}
	if parseR4(t, empty.Bytes()).GetBundle() == nil || strings.Contains(empty.String(), "entry") {
		t.Fatalf("empty bundle: %s", empty.String())
	}
}
