package consent_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/consent/consentdb"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// counted is a dossier of fixed counts per category.
type counted struct {
	consent.Dossier
	counts map[dossier.Category]int
}

func (d counted) Counts(context.Context, string) (map[dossier.Category]int, error) {
	return d.counts, nil
}

// A selection whose categories together hold more items than one document may
// (PGO_EXPORT_MAX_ITEMS) is refused with consent.error.too_large, naming the
// items and the maximum, and nothing is written: no grant, no code, no export job
// or its outbox row, no audit record. A selection of exactly the maximum is granted.
func TestDecideRefusesSelectionOverMaxItems(t *testing.T) {
	db := storetest.DB(t)
	exp := exportdb.New(db, worker.NewRenderTask)
	key, err := vault.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := consent.New(consent.Config{Issuer: "https://zuid.example.nl", ProviderName: "zuid", MaxItems: 5,
		Redirects: map[string][]string{fuzzClient: {fuzzCallback}}},
		consent.Deps{Store: consentdb.New(db, exp), Lists: testLists(t, ""), Signer: key,
			Dossier: counted{counts: map[dossier.Category]int{dossier.CatProblems: 3, dossier.CatAllergies: 2, dossier.CatResults: 1}},
			Exports: export.NewJobs(export.JobsConfig{Store: exp})})
	if err != nil {
		t.Fatal(err)
	}
	who := consent.Caller{AccountID: uuid.NewString(), IP: "192.0.2.1"}
	decide := func(cats ...dossier.Category) (string, error) {
		form := url.Values{"response_type": {"code"}, "client_id": {fuzzClient}, "redirect_uri": {fuzzCallback},
			"scope": {"zuid~51"}, "state": {reqctx.NewID()}, consent.ParamRequestID: {reqctx.NewID()},
			consent.ParamCorrelationID: {reqctx.NewID()}}
		r := httptest.NewRequest(http.MethodPost, "/oauth/authorize", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		var sel []string
		for _, c := range cats {
			sel = append(sel, string(c))
		}
		return svc.Decide(context.Background(), r, who, true, sel)
	}
	written := func() map[string]int {
		out := map[string]int{}
		for _, table := range []string{"consent_grant", "oauth_code", "export_job", "outbox", "audit_log"} {
			var n int
			if err := db.Pool.QueryRow(context.Background(), `select count(*) from `+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			out[table] = n
		}
		return out
	}
	before := written()
	// 3 + 2 + 1 = 6 items (a category named twice counts once)
	_, err = decide(dossier.CatProblems, dossier.CatAllergies, dossier.CatResults, dossier.CatAllergies)
	var tooLarge *consent.TooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Items != 6 || tooLarge.Max != 5 {
		t.Fatalf("6 items over a maximum of 5: err %v; want a TooLargeError of 6 and 5", err)
	}
	if pgo.ErrorCode(err) != pgo.EINVALID || pgo.ErrorReason(err) != consent.ReasonTooLarge ||
		!strings.Contains(pgo.ErrorMessage(err), "6 items") || !strings.Contains(pgo.ErrorMessage(err), "at most 5") {
		t.Errorf("code %q, reason %q, message %q", pgo.ErrorCode(err), pgo.ErrorReason(err), pgo.ErrorMessage(err))
	}
	if after := written(); !equalCounts(before, after) {
		t.Errorf("a refused selection wrote rows: before %v, after %v", before, after)
	}
	// exactly the maximum: granted, with its export job
	loc, err := decide(dossier.CatProblems, dossier.CatAllergies)
	if err != nil {
		t.Fatalf("5 items at a maximum of 5: %v", err)
	}
	if u, _ := url.Parse(loc); u == nil || u.Query().Get("code") == "" {
		t.Fatalf("no code in %q", loc)
	}
	if after := written(); after["consent_grant"] != before["consent_grant"]+1 || after["export_job"] != before["export_job"]+1 ||
		after["oauth_code"] != before["oauth_code"]+1 {
		t.Errorf("a selection at the maximum: before %v, after %v", before, after)
	}
}

func equalCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

// The screen knows what choosing every part offered would select, and warns
// (OverMax) only when that is more than one document may hold.
func TestScreenOverMax(t *testing.T) {
	cats := []consent.Category{{Key: dossier.CatProblems, Count: 3}, {Key: dossier.CatAllergies, Count: 2}}
	for _, c := range []struct {
		max  int
		want bool
	}{{4, true}, {5, false}, {25_000, false}, {0, false}} {
		sc := consent.Screen{Categories: cats, MaxItems: c.max}
		if sc.Items() != 5 || sc.OverMax() != c.want {
			t.Errorf("max %d: Items %d, OverMax %v; want 5, %v", c.max, sc.Items(), sc.OverMax(), c.want)
		}
	}
	if (consent.Screen{MaxItems: 1}).OverMax() {
		t.Error("an empty dossier is over the maximum")
	}
	// Alone: a part that by itself holds more than the maximum.
	for _, c := range []struct {
		max                 int
		problems, allergies bool
	}{{2, true, false}, {1, true, true}, {3, false, false}, {0, false, false}} {
		sc := consent.Screen{Categories: cats, MaxItems: c.max}
		if sc.Alone(dossier.CatProblems) != c.problems || sc.Alone(dossier.CatAllergies) != c.allergies || sc.Alone(dossier.CatImmunization) {
			t.Errorf("max %d: Alone problems %v, allergies %v, vaccinations %v; want %v, %v, false", c.max,
				sc.Alone(dossier.CatProblems), sc.Alone(dossier.CatAllergies), sc.Alone(dossier.CatImmunization), c.problems, c.allergies)
		}
	}
}
