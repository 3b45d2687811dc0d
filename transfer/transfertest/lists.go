package transfertest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pgo-koppelvlak/pgo/zal"
)

// TargetURL is the public URL of the target PGO in these tests.
const TargetURL = "https://doel.localhost:8443"

// Lists returns MedMij lists (ZAL, OCL, GNL, Whitelist) naming the source "bron"
// at src.URL and the target "doel". Without whitelisted, the Whitelist names only
// the target, so the source must never be contacted.
func Lists(t testing.TB, src *Source, whitelisted bool) *zal.Registry {
	t.Helper()
	insts := []zal.Instance{{Name: "bron", BaseURL: src.URL}, {Name: "doel", BaseURL: TargetURL}}
	raw, err := zal.Generate(zal.GenerateInput{Instances: insts, LenientPorts: true})
	if err != nil {
		t.Fatal(err)
	}
	if !whitelisted {
		other, err := zal.Generate(zal.GenerateInput{Instances: insts[1:], LenientPorts: true})
		if err != nil {
			t.Fatal(err)
		}
		raw[zal.KindWhitelist] = other[zal.KindWhitelist]
	}
	var lists []zal.List
	for _, k := range zal.Kinds {
		l, err := zal.ParseKind(k, raw[k], zal.ParseOptions{LenientPorts: true})
		if err != nil {
			t.Fatal(err)
		}
		lists = append(lists, l)
	}
	return zal.NewStatic(lists...)
}

// ListFiles writes the lists of Lists (with the source whitelisted) into dir under
// MedMij's file names and returns the PGO_* settings that load them (for a real
// pgo process; ports on the authorization endpoint are admitted, as in the demo).
func ListFiles(t testing.TB, src *Source, dir string) map[string]string {
	t.Helper()
	insts := []zal.Instance{{Name: "bron", BaseURL: src.URL}, {Name: "doel", BaseURL: TargetURL}}
	raw, err := zal.Generate(zal.GenerateInput{Instances: insts, LenientPorts: true})
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"PGO_LISTS_LENIENT_PORTS": "true"}
	names := map[zal.Kind]string{zal.KindZAL: "PGO_ZAL_FILE", zal.KindOCL: "PGO_OCL_FILE",
		zal.KindGNL: "PGO_GNL_FILE", zal.KindWhitelist: "PGO_WHITELIST_FILE"}
	for k, setting := range names {
		path := filepath.Join(dir, zal.FileNames[k])
		if err := os.WriteFile(path, raw[k], 0o600); err != nil {
			t.Fatal(err)
		}
		vars[setting] = path
	}
	return vars
}
