package transfer_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pgo-koppelvlak/pgo/transfer"
)

// setDocRef changes the source's DocumentReference (the MedMij example) with f
// before it is listed.
func setDocRef(t *testing.T, e *env, f func(doc map[string]any)) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(e.src.DocRef, &doc); err != nil {
		t.Fatal(err)
	}
	f(doc)
	raw, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	e.src.DocRef = raw
}

// TestDocumentReferenceStatus: only a current DocumentReference is the
// patient's dossier. A source that lists a superseded or entered-in-error one
// (whatever it answered to ?status=current) gets nothing fetched or stored, and
// the transfer fails saying why; the MedMij example (current) is taken.
func TestDocumentReferenceStatus(t *testing.T) {
	for _, status := range []string{"superseded", "entered-in-error"} {
		t.Run(status, func(t *testing.T) {
			e := newEnv(t, true, nil)
			setDocRef(t, e, func(doc map[string]any) { doc["status"] = status })
			tr := e.fetch(t, e.consent(t).ID)
			want := `no current PDF document: 1 DocumentReference(s) not current, the first with status "` + status + `"`
			if tr.Status != transfer.StatusFailed || tr.Failure != transfer.ReasonNoDocuments || !strings.Contains(tr.FailureDetail, want) {
				t.Errorf("status %s, reason %s (%s); want failed, %s: %s", tr.Status, tr.Failure, tr.FailureDetail, transfer.ReasonNoDocuments, want)
			}
			if n := binaryGETs(e); n != 0 {
				t.Errorf("%d Binary reads of a %s document; want none", n, status)
			}
			if n := e.documents(t, tr.ID); n != 0 {
				t.Errorf("%d documents stored; want none", n)
			}
		})
	}
	t.Run("current", func(t *testing.T) {
		e := newEnv(t, true, nil)
		tr := e.fetch(t, e.consent(t).ID)
		if tr.Status != transfer.StatusDone || e.documents(t, tr.ID) != 1 {
			t.Errorf("status %s (%s: %s), %d documents; want done with one", tr.Status, tr.Failure, tr.FailureDetail, e.documents(t, tr.ID))
		}
	})
}

// TestAttachmentTitleBounded: attachment.title is the source's word and is
// stored with the document; a long one is cut to 200 characters on a rune
// boundary (marked "…"), like a failure detail, and the document still arrives.
func TestAttachmentTitleBounded(t *testing.T) {
	e := newEnv(t, true, nil)
	long := strings.Repeat("é", 256<<10) // 512 KiB of two-byte runes (FHIR strings stop at 1 MB)
	setDocRef(t, e, func(doc map[string]any) {
		doc["content"].([]any)[0].(map[string]any)["attachment"].(map[string]any)["title"] = long
	})
	tr := e.fetch(t, e.consent(t).ID)
	if tr.Status != transfer.StatusDone {
		t.Fatalf("status %s (%s: %s); want done", tr.Status, tr.Failure, tr.FailureDetail)
	}
	docs, err := e.svc.Documents(context.Background(), e.actor.UserID, tr.ID)
	if err != nil || len(docs) != 1 {
		t.Fatalf("documents: %d, %v", len(docs), err)
	}
	title := docs[0].Title
	if n := utf8.RuneCountInString(title); n > 201 || !utf8.ValidString(title) {
		t.Fatalf("stored title of %d bytes, %d characters (valid UTF-8: %v); want at most 200 and the mark",
			len(title), n, utf8.ValidString(title))
	}
	if want := strings.Repeat("é", 200) + "…"; title != want {
		t.Errorf("stored title %q; want the first 200 characters and …", title)
	}
}
