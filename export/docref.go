package export

import (
	"time"

	"github.com/pgo-koppelvlak/pgo/fhir"
)

// DocumentReference describes a job's document as the source role lists it for
// GET [base]/DocumentReference?status=current (MedMij portability package, profile
// IHE.MHD.Minimal.DocumentReference; the shape of MedMij's example
// _port-DocumentReference-XXX-Rijn.json plus what Nictiz's XIS-Server scripts
// check: a display on every Reference, system and code on every Coding, a system on
// every Identifier). The attachment's url is relative (Binary/<id>), resolved against
// the Bundle's base. Size, hash and creation are there once the document is
// rendered; while it renders the entry is listed without them.
//
// patientName is the subject's display (never a BSN; the token names the patient,
// so no Patient reference is given).
func (s *Serving) DocumentReference(job Job, patientName string) fhir.DocumentReference {
	who := patientName
	if who == "" {
		who = "Patiënt"
	}
	title := "Persoonlijk gezondheidsdossier"
	if patientName != "" {
		title += " voor " + patientName
	}
	d := fhir.DocumentReference{
		ID:               job.ID,
		Meta:             &fhir.Meta{LastUpdated: fhirInstant(lastChange(job)), Profile: []string{fhir.DocumentReferenceProfile}},
		MasterIdentifier: &fhir.Identifier{System: fhir.RFC3986System, Value: "urn:uuid:" + job.ID},
		Status:           "current",
		Type: fhir.CodeableConcept{Coding: []fhir.Coding{{
			System: fhir.SNOMEDSystem, Code: fhir.TransferReportCode, Display: fhir.TransferReportDisplay,
		}}},
		Subject:     &fhir.Ref{Display: who},
		Indexed:     fhirInstant(job.Created),
		Author:      []fhir.Ref{{Display: s.source}},
		Description: "Verslag van overdracht uit " + s.source,
		Content: []fhir.DocumentContent{{Attachment: fhir.Attachment{
			ContentType: "application/pdf", Language: "nl", URL: "Binary/" + job.ID, Title: title,
		}}},
	}
	if job.Status == StatusReady {
		a := &d.Content[0].Attachment
		a.Size, a.Hash, a.Creation = job.Size, job.SHA1[:], fhirInstant(job.Finished)
		d.Created = fhirInstant(job.Finished)
	}
	return d
}

// lastChange is when the job last changed as far as a reader of it can tell.
func lastChange(job Job) time.Time {
	if !job.Finished.IsZero() {
		return job.Finished
	}
	return job.Created
}

// fhirInstant writes a time as an STU3 instant/dateTime (seconds, UTC).
func fhirInstant(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }
