package dossierdb_test

import (
	"context"
	"testing"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
)

// FirstRows reads the first n rows of each category in import order (the rows
// Rows lists first), plus the first Patient when it is not among them: the
// consent screen's preview reads a bounded number of rows, not the dossier.
func TestFirstRowsReadsTheFirstOfEachCategory(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	importGenerated(t, f, dossier.SizeStandard, 5)
	st := dossierdb.New(f.db)
	counts, err := st.Counts(ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	var cats []dossier.Category
	for _, ci := range dossier.Categories {
		if counts[ci.Key] > 0 {
			cats = append(cats, ci.Key)
		}
	}
	all, err := st.Rows(ctx, f.user, cats)
	if err != nil {
		t.Fatal(err)
	}
	const n = 7
	first, err := st.FirstRows(ctx, f.user, cats, n)
	if err != nil {
		t.Fatal(err)
	}
	// the rows Rows gives, cut to n per category, keep their order
	var want []string
	per := map[dossier.Category]int{}
	for _, r := range all {
		if per[r.Category]++; per[r.Category] <= n {
			want = append(want, r.ID)
		}
	}
	got := make([]string, len(first))
	for i, r := range first {
		got[i] = r.ID
	}
	if len(got) != len(want) || len(got) >= len(all) {
		t.Fatalf("FirstRows read %d rows, want %d (the dossier holds %d)", len(got), len(want), len(all))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d: %s, want %s", i, got[i], want[i])
		}
	}

	// without the patient category, the first Patient still comes along
	res, err := st.FirstRows(ctx, f.user, []dossier.Category{dossier.CatResults}, 3)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, r := range res {
		types[r.Type]++
	}
	if len(res) != 4 || types["Patient"] != 1 {
		t.Fatalf("results with n = 3: %d rows %v, want 3 results and the Patient", len(res), types)
	}
}
