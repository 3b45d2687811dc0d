package dossierdb_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/dossier"
)

func condition(id string) string {
	return fmt.Sprintf(`{"resourceType":"Condition","id":%q,"clinicalStatus":"active","verificationStatus":"confirmed","code":{"text":"Astma"},"subject":{"reference":"Patient/p1"}}`, id)
}

// bundleFile writes a Bundle of a patient and n conditions to a file; edit may
// change a condition (by its index among the entries).
func bundleFile(t *testing.T, n int, edit map[int]string) string {
	t.Helper()
	res := []string{patient}
	for i := 1; i <= n; i++ {
		r, ok := edit[i]
		if !ok {
			r = condition(fmt.Sprintf("c%d", i))
		}
		res = append(res, r)
	}
	path := filepath.Join(t.TempDir(), "bundle.json")
	if err := os.WriteFile(path, bundle(t, "collection", res...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A Bundle file is imported as a stream, in batches inside one transaction: an
// error in a late batch (after earlier batches were written) still stores nothing
// and names the entry and path, a duplicate across batches is found, and a file
// that is not JSON is reported where it breaks.
func TestImportStreamsBundleFile(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	imp := func(path string) (dossier.Result, error) {
		in, err := dossier.ReadPath(path)
		if err != nil {
			return dossier.Result{}, err
		}
		return f.svc.Import(ctx, f.user, in, dossier.ImportOptions{})
	}
	for _, tt := range []struct {
		name string
		edit map[int]string
		want string
	}{
		{"invalid late entry", map[int]string{590: noSubj}, `entry 590: Condition: missing required field "subject"`},
		{"duplicate across batches", map[int]string{580: condition("c3")}, "entry 580: Condition.id: same resource as entry 3"},
		{"another patient late", map[int]string{600: strings.Replace(wrongRef, `"c3"`, `"c600"`, 1)}, "entry 600: Condition.subject: refers to another patient"},
	} {
		_, err := imp(bundleFile(t, 600, tt.edit))
		if pgo.ErrorCode(err) != pgo.EINVALID || !strings.Contains(pgo.ErrorMessage(err), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
		if f.rows(t) != 0 || f.audits(t) != 0 {
			t.Fatalf("%s: rows %d audits %d after a refused import", tt.name, f.rows(t), f.audits(t))
		}
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"resourceType":"Bundle","type":"collection","entry":[{"resource":`), 0o600)
	if _, err := imp(bad); pgo.ErrorCode(err) != pgo.EINVALID || !strings.Contains(pgo.ErrorMessage(err), "invalid JSON at byte") {
		t.Errorf("bad JSON: %v", err)
	}
	res, err := imp(bundleFile(t, 600, nil))
	if err != nil || res.Total != 601 || res.Source != "bundle:collection" || res.Counts[dossier.CatProblems] != 600 {
		t.Fatalf("%v %+v", err, res)
	}
	if f.rows(t) != 601 || f.audits(t) != 1 {
		t.Fatalf("rows %d audits %d", f.rows(t), f.audits(t))
	}
	// a re-import of the file replaces every row, across batches
	if _, err := imp(bundleFile(t, 600, nil)); err != nil || f.rows(t) != 601 {
		t.Fatalf("re-import: %v, rows %d", err, f.rows(t))
	}
}
