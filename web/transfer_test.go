package web

import (
	"bytes"
	"strings"
	"testing"
)

// transferViews are the target role's pages in every state worth rendering, for
// TestEveryPageRendersInBothLanguages.
func transferViews(p Page) map[string]any {
	doc := TransferDocument{ID: "d1", Title: "Dossier", Source: "bron", SizeBytes: 105_000, SHA256: "ab"}
	return map[string]any{
		"transfer_choose": TransferChooseView{Page: p, Service: "Verzamelen Documenten 3.0 (pdf/a)",
			Sources: []TransferSource{{Name: "bron@medmij", Display: "bron"}}, Error: "transfer.err.no_source",
			Recent: []TransferRow{{ID: "t1", Source: "bron", Status: "done", When: "01-01-2026 10:00"}}},
		"transfer_progress":  TransferProgressView{Page: p, State: TransferState{ID: "t1", Source: "bron", Status: "downloading", DocsTotal: 1, Steps: []TransferStep{{Label: "x", State: "current"}}}},
		"transfer_documents": TransferDocumentsView{Page: p, Documents: []TransferDocument{doc}},
	}
}

// Each state of the progress page says what the patient needs: the link to the
// source while waiting, live progress (script and a refresh without JavaScript)
// while running, the result with an open button when done, and the reason with
// "Opnieuw proberen" and the code to quote when failed — without retry pressure
// when the patient said no.
func TestTransferProgressStates(t *testing.T) {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	p := Page{Lang: NL, InstanceName: "PGO Zuid", Path: "/ophalen/t1"}
	doc := TransferDocument{ID: "d1", Title: "Dossier", Source: "bron", SizeBytes: 105_000}
	cases := []struct {
		name       string
		v          TransferProgressView
		want, dont []string
	}{
		{"waiting", TransferProgressView{Page: p, State: TransferState{ID: "t1", Source: "PGO Noord", Status: "authorizing"}},
			[]string{`href="/ophalen/t1/toestemming"`, "Naar PGO Noord om toestemming te geven"}, []string{"<script", "http-equiv"}},
		{"running", TransferProgressView{Page: p, State: TransferState{ID: "t1", Status: "downloading", Progress: "1 van 1"}},
			[]string{`<noscript><meta http-equiv="refresh" content="3"></noscript>`, `<script src="/static/transfer.js" defer>`, `data-events="/ophalen/t1/events"`, `aria-live="polite"`}, nil},
		{"done", TransferProgressView{Page: p, State: TransferState{ID: "t1", Source: "bron", Status: "done", Final: true}, Documents: []TransferDocument{doc}},
			[]string{"Uw dossier is overgenomen", `href="/documenten/d1"`, "105 kB"}, []string{"http-equiv", "<script"}},
		{"failed", TransferProgressView{Page: p, CSRF: "c", State: TransferState{ID: "t1", Status: "failed", Final: true, Reason: "Het document kwam niet helemaal aan.", CanRetry: true, CorrelationID: "corr-1"}},
			[]string{"Opnieuw proberen", `action="/ophalen/t1/opnieuw"`, "corr-1", `class="primary"`, "Het document kwam niet helemaal aan."}, []string{"http-equiv"}},
		{"said no", TransferProgressView{Page: p, CSRF: "c", State: TransferState{ID: "t1", Status: "failed", Final: true, Calm: true, CanRetry: true, NewConsent: true}},
			[]string{"U hebt geen toestemming gegeven", `class="secondary"`}, []string{`class="primary"`, "error-summary"}},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		if err := r.Render(&buf, "transfer_progress", c.v); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: lacks %s", c.name, w)
			}
		}
		for _, d := range c.dont {
			if strings.Contains(out, d) {
				t.Errorf("%s: has %s", c.name, d)
			}
		}
	}
}

func TestSize(t *testing.T) {
	for _, c := range []struct {
		l    Lang
		n    int64
		want string
	}{{NL, 999, "999 B"}, {NL, 105_000, "105 kB"}, {NL, 3_400_000, "3,4 MB"}, {EN, 3_400_000, "3.4 MB"}} {
		if got := Size(c.l, c.n); got != c.want {
			t.Errorf("Size(%s, %d) = %q, want %q", c.l, c.n, got, c.want)
		}
	}
}
