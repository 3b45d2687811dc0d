package zal

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse[T List](t testing.TB, data []byte) T {
	t.Helper()
	l, err := Parse(data, ParseOptions{})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	v, ok := l.(T)
	if !ok {
		t.Fatalf("parse gave %T", l)
	}
	return v
}

func TestParseZALRelease3(t *testing.T) {
	z := mustParse[*ZAL](t, fixture(t, "zal3.xml"))
	if z.Kind != KindZAL || z.Volgnummer != 7 || z.Namespace != NamespaceZAL3 || len(z.Providers) != 3 {
		t.Fatalf("header: %+v, %d providers", z.Header.Kind, len(z.Providers))
	}
	if want := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC); !z.Tijdstempel.Equal(want) {
		t.Errorf("Tijdstempel %v", z.Tijdstempel)
	}
	src := z.Sources(Gegevensdienst51)
	var names []string
	for _, s := range src {
		names = append(names, s.Name)
	}
	// ziekenhuis@medmij is ZA, not APD: not a source. Sorted by name.
	if !reflect.DeepEqual(names, []string{"alfapgo@medmij", "noord@medmij"}) {
		t.Fatalf("sources %v", names)
	}
	if src[1].Display != "noord" || src[1].Authorization != "https://noord.example.nl/oauth/authorize" ||
		src[1].Token != "https://noord.example.nl:8443/oauth/token" || src[1].Resource() != "https://noord.example.nl:8443/fhir" {
		t.Errorf("noord endpoints %+v", src[1])
	}
	if got := z.Search("51", "NOO"); len(got) != 1 || got[0].Name != "noord@medmij" {
		t.Errorf("search NOO: %+v", got)
	}
	if got := z.Search("51", "  "); len(got) != 2 {
		t.Errorf("empty search: %d", len(got))
	}
	if got := z.Sources("4"); len(got) != 0 {
		t.Errorf("sources for 4: %+v", got)
	}
	if _, err := z.Source("ziekenhuis@medmij", "51"); pgo.ErrorCode(err) != pgo.ENOTFOUND {
		t.Errorf("ZA as source: %v", err)
	}
	ep, err := z.Endpoints("ziekenhuis@medmij", "51")
	if err != nil || len(ep.Roles) != 2 || ep.Type != "ZA" {
		t.Fatalf("endpoints ZA: %+v %v", ep, err)
	}
	p, _ := z.Provider("ziekenhuis@medmij")
	if s := p.Versions[0].Services[0].Subscription; s == nil || s.MaxDuration != "P30D" || s.URI != "https://zh.example.nl/sub" {
		t.Errorf("subscription %+v", s)
	}
	if _, err := z.Endpoints("noord@medmij", "4"); pgo.ErrorCode(err) != pgo.ENOTFOUND {
		t.Errorf("missing gegevensdienst: %v", err)
	}
	if _, err := z.Endpoints("nobody@medmij", "51"); pgo.ErrorCode(err) != pgo.ENOTFOUND {
		t.Errorf("missing provider: %v", err)
	}
}

func TestParseZALRelease2(t *testing.T) {
	z := mustParse[*ZAL](t, fixture(t, "zal2.xml"))
	if z.Namespace != NamespaceZAL2 || len(z.Providers) != 1 || z.Providers[0].Type != "" {
		t.Fatalf("%+v", z.Providers)
	}
	ep, err := z.Endpoints("umcoost@medmij", "4")
	if err != nil || ep.Authorization != "https://umc.example.nl/oauth/authorize" || ep.Resource() != "https://umc.example.nl/fhir" {
		t.Fatalf("%+v %v", ep, err)
	}
	if len(z.Sources("4")) != 0 {
		t.Error("release2 providers have no Aanbiedertype, so none is an APD source")
	}
}

func TestParseOCLGNLWhitelist(t *testing.T) {
	o := mustParse[*OCL](t, fixture(t, "ocl.xml"))
	c, err := o.Client("NOORD.example.nl.")
	if err != nil || c.Organisation != "PGO Noord & Co" || !c.Allows("51") || !c.Allows("4") || c.Allows("7") {
		t.Fatalf("noord: %+v %v", c, err)
	}
	z, err := o.Client("zuid.example.nl:443")
	if err != nil || !z.Allows("51") || len(z.Gegevensdiensten) != 0 {
		t.Fatalf("zuid (no gegevensdiensten listed allows any): %+v %v", z, err)
	}
	if _, err := o.Client("evil.example.nl"); pgo.ErrorCode(err) != pgo.ENOTFOUND {
		t.Errorf("unknown client: %v", err)
	}
	g := mustParse[*GNL](t, fixture(t, "gnl.xml"))
	if n, ok := g.Name("51"); !ok || n != Name51 {
		t.Errorf("GNL 51 = %q", n)
	}
	if _, ok := g.Name("99"); ok {
		t.Error("GNL 99 found")
	}
	if !reflect.DeepEqual(g.IDs, []string{"4", "51"}) {
		t.Errorf("ids %v", g.IDs)
	}
	w := mustParse[*Whitelist](t, fixture(t, "whitelist.xml"))
	for host, want := range map[string]bool{"noord.example.nl": true, "Zuid.Localhost:8443": true, "evil.example.nl": false, "example.nl": false, "": false} {
		if w.Contains(host) != want {
			t.Errorf("Contains(%q) != %v", host, want)
		}
	}
}

func TestParseAcceptsBOMAndNoDeclaration(t *testing.T) {
	gnl := fixture(t, "gnl.xml")
	for name, data := range map[string][]byte{
		"BOM":            append([]byte("\xef\xbb\xbf"), gnl...),
		"no declaration": gnl[len(`<?xml version="1.0" encoding="UTF-8"?>`)+1:],
		"lower-case utf": rep(gnl, "UTF-8", "utf-8"),
		"comments":       rep(gnl, "<Gegevensdiensten>", "<!-- x --><Gegevensdiensten><!-- y -->"),
	} {
		if g, err := ParseKind(KindGNL, data, ParseOptions{}); err != nil || g.Head().Volgnummer != 5 {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseKindMismatch(t *testing.T) {
	_, err := ParseKind(KindOCL, fixture(t, "gnl.xml"), ParseOptions{})
	if got := pgo.ErrorMessage(err); got != "line 1: expected a ocl list, got a gnl list" {
		t.Errorf("got %q", got)
	}
}

func TestLenientPorts(t *testing.T) {
	data := strings.Replace(string(fixture(t, "zal3.xml")), "https://noord.example.nl/oauth", "https://noord.example.nl:8443/oauth", 1)
	if _, err := Parse([]byte(data), ParseOptions{}); err == nil {
		t.Fatal("strict parse accepted a port on the authorization endpoint")
	}
	if _, err := Parse([]byte(data), ParseOptions{LenientPorts: true}); err != nil {
		t.Fatalf("lenient parse: %v", err)
	}
	bad := strings.Replace(data, ":8443/oauth/authorize", ":8443/oauth/authorize?x=1", 1)
	if _, err := Parse([]byte(bad), ParseOptions{LenientPorts: true}); err == nil {
		t.Fatal("lenient parse accepted a query")
	}
}

func TestScope(t *testing.T) {
	if s := Scope("noord@medmij", "51"); s != "noord~51" {
		t.Fatalf("Scope = %q", s)
	}
	p, g, err := ParseScope("noord~51")
	if err != nil || p != "noord@medmij" || g != "51" {
		t.Fatalf("ParseScope: %q %q %v", p, g, err)
	}
	for _, bad := range []string{"", "noord", "noord~", "~51", "Noord~51", "no~51", "noord~51~2", "noord~ 51", "noord@medmij~51", "noord~" + strings.Repeat("1", 31)} {
		if _, _, err := ParseScope(bad); pgo.ErrorCode(err) != pgo.EINVALID {
			t.Errorf("ParseScope(%q) = %v", bad, err)
		}
	}
}
