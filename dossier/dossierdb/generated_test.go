package dossierdb_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/fhir"
)

// expected returns, per category, the item ids the generated Bundle holds (classified
// independently of the import).
func expected(t testing.TB, data []byte) map[dossier.Category][]string {
	t.Helper()
	var b struct {
		Entry []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	out := map[dossier.Category][]string{}
	for _, e := range b.Entry {
		var r struct{ ResourceType, ID string }
		_ = json.Unmarshal(e.Resource, &r)
		c := dossier.Classify(r.ResourceType, e.Resource)
		out[c] = append(out[c], r.ResourceType+"/"+r.ID)
	}
	return out
}

func importGenerated(t testing.TB, f *fixture, size dossier.Size, seed uint64) ([]byte, dossier.Result) {
	t.Helper()
	data, err := dossier.Generate(size, seed)
	if err != nil {
		t.Fatal(err)
	}
	in, err := dossier.ReadInput(data)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.Import(context.Background(), f.user, in, dossier.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return data, res
}

// Generated dossiers validate as STU3, import completely and resolve every reference.
func TestGeneratedDossiersImport(t *testing.T) {
	for _, tt := range []struct {
		size     dossier.Size
		min, max int
	}{{dossier.SizeStandard, 280, 340}, {dossier.SizeLarge, 9500, 10500}} {
		t.Run(string(tt.size), func(t *testing.T) {
			f := newFixture(t)
			start := time.Now()
			data, res := importGenerated(t, f, tt.size, 42)
			t.Logf("%s: %d resources, %d bytes, imported in %v", tt.size, res.Total, len(data), time.Since(start))
			if res.Version != fhir.STU3 || res.Total < tt.min || res.Total > tt.max || len(res.Warnings) != 0 {
				t.Fatalf("%+v", res)
			}
			if f.rows(t) != res.Total {
				t.Fatalf("rows %d, imported %d", f.rows(t), res.Total)
			}
			for c, ids := range expected(t, data) {
				if res.Counts[c] != len(ids) {
					t.Errorf("%s: %d, want %d", c, res.Counts[c], len(ids))
				}
			}
		})
	}
}

// The summary holds every item of each selected category and nothing of the others.
func TestSummarySelection(t *testing.T) {
	f := newFixture(t)
	data, _ := importGenerated(t, f, dossier.SizeStandard, 3)
	want := expected(t, data)
	selected := []dossier.Category{dossier.CatProblems, dossier.CatMedication, dossier.CatResults, dossier.CatDocuments}
	sum, err := f.svc.Summary(context.Background(), f.user, selected)
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Sections) != len(selected) {
		t.Fatalf("%d sections", len(sum.Sections))
	}
	seen := map[string]bool{}
	for i, s := range sum.Sections {
		if s.Category != selected[i] {
			t.Fatalf("section %d is %s, want %s", i, s.Category, selected[i])
		}
		var got []string
		for _, it := range s.Items {
			got = append(got, it.ID)
			seen[it.ID] = true
			if len(it.Cells) != len(s.Columns) || it.Cells[0] == "" {
				t.Fatalf("%s: cells %q for columns %q", it.ID, it.Cells, s.Columns)
			}
		}
		if !sameSet(got, want[s.Category]) {
			t.Errorf("%s: %d items, want %d", s.Category, len(got), len(want[s.Category]))
		}
	}
	for c, ids := range want {
		if contains(selected, c) {
			continue
		}
		if !contains(sum.Unselected, c) {
			t.Errorf("%s not listed as unselected", c)
		}
		for _, id := range ids {
			if seen[id] {
				t.Errorf("unselected %s appears", id)
			}
		}
	}
	if len(sum.Documents) != len(want[dossier.CatDocuments]) || sum.Patient.Name == "" {
		t.Fatalf("documents %d, patient %+v", len(sum.Documents), sum.Patient)
	}
	if _, err := f.svc.Summary(context.Background(), f.user, []dossier.Category{"nonsense"}); err == nil {
		t.Fatal("unknown category accepted")
	}
}

// The consent screen's overview reads the counts once and has a section for every
// category with data, with the first dossier.PreviewRows rows of the PDF's
// summary (in its order, with the same cells, references shown the same way),
// but without the texts only the PDF prints; a category at or under the bound is
// complete, and the counts are the full counts.
func TestOverviewMatchesSummaryCells(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	empty, err := f.svc.Overview(ctx, f.user)
	if err != nil || len(empty.Counts) != 0 || len(empty.Summary.Sections) != 0 {
		t.Fatalf("empty dossier: %+v, %v", empty, err)
	}
	importGenerated(t, f, dossier.SizeStandard, 3)
	ov, err := f.svc.Overview(ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := f.svc.Counts(ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ov.Counts) != fmt.Sprint(counts) {
		t.Fatalf("counts %v, want %v", ov.Counts, counts)
	}
	var all []dossier.Category
	for _, ci := range dossier.Categories {
		if counts[ci.Key] > 0 {
			all = append(all, ci.Key)
		}
	}
	full, err := f.svc.Summary(ctx, f.user, all)
	if err != nil {
		t.Fatal(err)
	}
	if len(ov.Summary.Sections) != len(all) || len(full.Sections) != len(all) {
		t.Fatalf("%d sections in the overview, %d in the summary, want %d", len(ov.Summary.Sections), len(full.Sections), len(all))
	}
	extra, cut, whole := 0, 0, 0
	for i, sec := range ov.Summary.Sections {
		want := full.Sections[i]
		n := min(counts[sec.Category], dossier.PreviewRows)
		if sec.Category != want.Category || len(sec.Items) != n || len(want.Items) != counts[sec.Category] {
			t.Fatalf("section %d: %s with %d items, want %s with %d (count %d)", i, sec.Category, len(sec.Items),
				want.Category, n, counts[sec.Category])
		}
		if n < counts[sec.Category] {
			cut++
		} else {
			whole++
		}
		for j, it := range sec.Items {
			if it.ID != want.Items[j].ID || fmt.Sprint(it.Cells) != fmt.Sprint(want.Items[j].Cells) {
				t.Fatalf("%s: cells %q, want %q", it.ID, it.Cells, want.Items[j].Cells)
			}
			if len(it.Extra) != 0 || len(it.Texts) != 0 {
				t.Fatalf("%s: the overview collected the PDF's texts", it.ID)
			}
			extra += len(want.Items[j].Extra) + len(want.Items[j].Texts)
		}
	}
	if extra == 0 {
		t.Fatal("the summary has no texts either: the comparison shows nothing")
	}
	if cut == 0 || whole == 0 {
		t.Fatalf("%d categories over the bound, %d at or under it: the test needs both", cut, whole)
	}
	if ov.Summary.Patient.Name != full.Patient.Name || ov.Summary.Patient.BSN != full.Patient.BSN {
		t.Fatalf("patient %+v, want %+v", ov.Summary.Patient, full.Patient)
	}
	if _, err := f.svc.Overview(ctx, "not-a-uuid"); pgo.ErrorCode(err) != pgo.EINVALID {
		t.Fatalf("bad user id: %v", err)
	}
}

func sameSet(a, b []string) bool {
	a, b = append([]string{}, a...), append([]string{}, b...)
	sort.Strings(a)
	sort.Strings(b)
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func contains(cs []dossier.Category, c dossier.Category) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

// BenchmarkImport prints import throughput (validation, sealing, COPY, audit) for the
// generated dossiers.
func BenchmarkImport(b *testing.B) {
	for _, size := range []dossier.Size{dossier.SizeStandard, dossier.SizeLarge} {
		b.Run(string(size), func(b *testing.B) {
			f := newFixture(b)
			data, err := dossier.Generate(size, 1)
			if err != nil {
				b.Fatal(err)
			}
			in, _ := dossier.ReadInput(data)
			b.ResetTimer()
			total := 0
			for i := 0; i < b.N; i++ {
				res, err := f.svc.Import(context.Background(), f.user, in, dossier.ImportOptions{})
				if err != nil {
					b.Fatal(err)
				}
				total += res.Total
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "resources/s")
		})
	}
}

// BenchmarkSummary prints how long the large dossier takes to open and summarise.
func BenchmarkSummary(b *testing.B) {
	f := newFixture(b)
	importGenerated(b, f, dossier.SizeLarge, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sum, err := f.svc.Summary(context.Background(), f.user, allCategories())
		if err != nil || len(sum.Sections) == 0 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/summary")
}

// BenchmarkConsentPreview compares what the consent screen reads for its preview
// of a standard dossier: before round 10, Counts and then the full Summary of
// every category with data (which reads the counts again and collects the texts
// only the PDF prints); now one Overview.
func BenchmarkConsentPreview(b *testing.B) {
	f := newFixture(b)
	importGenerated(b, f, dossier.SizeStandard, 1)
	ctx := context.Background()
	b.Run("counts+summary", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			counts, err := f.svc.Counts(ctx, f.user)
			if err != nil {
				b.Fatal(err)
			}
			var cats []dossier.Category
			for _, ci := range dossier.Categories {
				if counts[ci.Key] > 0 {
					cats = append(cats, ci.Key)
				}
			}
			if sum, err := f.svc.Summary(ctx, f.user, cats); err != nil || len(sum.Sections) == 0 {
				b.Fatal(err)
			}
		}
	})
	b.Run("overview", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if ov, err := f.svc.Overview(ctx, f.user); err != nil || len(ov.Summary.Sections) == 0 {
				b.Fatal(err)
			}
		}
	})
}
