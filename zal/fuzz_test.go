package zal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgo-koppelvlak/pgo"
)

// FuzzParse checks that no input makes the list parser panic (ZAL release 2 and
// 3, OCL, GNL and Whitelist: the seeds in testdata/*.xml and testdata/fuzz),
// that every refusal is a *pgo.Error with a precise message, that whatever it
// accepts survives a write and a second parse unchanged in its header and size,
// and that ParseKind agrees with the kind Parse found.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.xml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(data, ParseOptions{})
		if err != nil {
			var pe *pgo.Error
			if !errors.As(err, &pe) || pe.Code == "" || strings.TrimSpace(pe.Message) == "" {
				t.Fatalf("refusal is not a precise *pgo.Error: %T %v", err, err)
			}
			return
		}
		if _, err := ParseKind(l.Head().Kind, data, ParseOptions{}); err != nil {
			t.Fatalf("ParseKind(%s) refuses what Parse accepted: %v", l.Head().Kind, err)
		}
		if l.Head().Namespace == NamespaceZAL2 {
			return // we write release3 only
		}
		again, err := Parse(marshal(l), ParseOptions{})
		if err != nil {
			t.Fatalf("re-written list does not parse: %v", err)
		}
		if again.Head().Volgnummer != l.Head().Volgnummer || again.Head().Kind != l.Head().Kind {
			t.Fatalf("header changed: %+v -> %+v", l.Head(), again.Head())
		}
	})
}

// FuzzParseScope checks the scope parser (MedMij: <provider name without
// @medmij>~<GegevensdienstId>, used by the authorization and token requests):
// an accepted scope is exactly what Scope writes back for its parts.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"noord~51", "umcharderwijk~4", "a~b~c", "~51", "noord~", "Noord~51", "noord ~51", "noord~51 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, scope string) {
		provider, id, err := ParseScope(scope)
		if err != nil {
			var pe *pgo.Error
			if !errors.As(err, &pe) || pe.Code != pgo.EINVALID || pe.Message == "" {
				t.Fatalf("refusal is not a precise EINVALID: %v", err)
			}
			return
		}
		if got := Scope(provider, id); got != scope {
			t.Fatalf("scope %q parses to %q, %q, which write back as %q", scope, provider, id, got)
		}
	})
}
