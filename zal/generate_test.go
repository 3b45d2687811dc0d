package zal

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
)

func demoInput() GenerateInput {
	return GenerateInput{
		Instances: []Instance{
			{Name: "zuid", BaseURL: "https://zuid.localhost:9443"},
			{Name: "noord", BaseURL: "https://noord.localhost:8443/"},
		},
		Clients: []ClientSpec{
			{Host: "noord.localhost", Organisation: "PGO Noord", Gegevensdiensten: []string{"51"}},
			{Host: "zuid.localhost", Organisation: "PGO Zuid"},
		},
		Volgnummer:   42,
		Tijdstempel:  time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC),
		LenientPorts: true,
	}
}

func TestGenerateRoundTrip(t *testing.T) {
	out, err := Generate(demoInput())
	if err != nil {
		t.Fatal(err)
	}
	opts := ParseOptions{LenientPorts: true}
	l, err := ParseKind(KindZAL, out[KindZAL], opts)
	if err != nil {
		t.Fatal(err)
	}
	z := l.(*ZAL)
	want := []Source{
		{Name: "noord@medmij", Display: "noord", Endpoints: Endpoints{Provider: "noord@medmij", Type: TypeAPD, Gegevensdienst: "51",
			InterfaceVersion: InterfaceVersionPGOK, Authorization: "https://noord.localhost:8443" + AuthorizePath,
			Token: "https://noord.localhost:8443" + TokenPath, Roles: []SystemRole{{SystemRoleDocuments, "https://noord.localhost:8443" + FHIRPath}}}},
		{Name: "zuid@medmij", Display: "zuid", Endpoints: Endpoints{Provider: "zuid@medmij", Type: TypeAPD, Gegevensdienst: "51",
			InterfaceVersion: InterfaceVersionPGOK, Authorization: "https://zuid.localhost:9443" + AuthorizePath,
			Token: "https://zuid.localhost:9443" + TokenPath, Roles: []SystemRole{{SystemRoleDocuments, "https://zuid.localhost:9443" + FHIRPath}}}},
	}
	if got := z.Sources(Gegevensdienst51); !reflect.DeepEqual(got, want) {
		t.Fatalf("sources\n got %+v\nwant %+v", got, want)
	}
	if z.Volgnummer != 42 || !z.Tijdstempel.Equal(demoInput().Tijdstempel) {
		t.Errorf("header %d %v", z.Volgnummer, z.Tijdstempel)
	}
	// Writing the parsed index again gives the same bytes: nothing is lost or added.
	for _, k := range Kinds {
		l, err := ParseKind(k, out[k], opts)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if again := marshal(l); !bytes.Equal(again, out[k]) {
			t.Errorf("%s: re-marshalled list differs:\n%s\n---\n%s", k, again, out[k])
		}
	}
	o, _ := ParseKind(KindOCL, out[KindOCL], opts)
	if c, err := o.(*OCL).Client("noord.localhost"); err != nil || c.Allows("4") || !c.Allows("51") {
		t.Errorf("noord client %+v %v", c, err)
	}
	w, _ := ParseKind(KindWhitelist, out[KindWhitelist], opts)
	if hosts := w.(*Whitelist).Hosts; !reflect.DeepEqual(hosts, []string{"zuid.localhost", "noord.localhost"}) {
		t.Errorf("whitelist %v", hosts)
	}
	g, _ := ParseKind(KindGNL, out[KindGNL], opts)
	if n, _ := g.(*GNL).Name("51"); n != Name51 {
		t.Errorf("gnl %q", n)
	}
}

func marshal(l List) []byte {
	switch v := l.(type) {
	case *ZAL:
		return MarshalZAL(v)
	case *OCL:
		return MarshalOCL(v)
	case *GNL:
		return MarshalGNL(v)
	}
	return MarshalWhitelist(l.(*Whitelist))
}

func TestGenerateDefaultClientsAndStrictPorts(t *testing.T) {
	out, err := Generate(GenerateInput{Instances: []Instance{{Name: "noord", BaseURL: "https://noord.example.nl"}}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ParseKind(KindOCL, out[KindOCL], ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := l.(*OCL).Clients; len(c) != 1 || c[0].Hostname != "noord.example.nl" || c[0].Organisation != "PGO Noord" {
		t.Errorf("default clients %+v", c)
	}
	if l.Head().Volgnummer < time.Now().Add(-time.Minute).Unix() {
		t.Errorf("default Volgnummer %d is not the current time", l.Head().Volgnummer)
	}
	for _, c := range []struct {
		in   Instance
		want string
	}{
		{Instance{"noord", "https://noord.localhost:8443"}, `instance noord: base URL "https://noord.localhost:8443" has a port, but the ZAL forbids a port on the authorization endpoint (MedMij front-channel URI); serve on 443 or use --lenient-ports for a local demo`},
		{Instance{"noord", "http://noord.example.nl"}, `instance noord: base URL "http://noord.example.nl" must be https://host[:port][/path]`},
		{Instance{"noord", "https://noord.example.nl/?q=1"}, `instance noord: base URL "https://noord.example.nl/?q=1" must be https://host[:port][/path]`},
		{Instance{"no", "https://no.example.nl"}, `instance no: length 9 is outside 10..57`},
		{Instance{"Noord", "https://noord.example.nl"}, `instance Noord: "Noord@medmij" does not match the pattern [a-z]+@medmij`},
		{Instance{"noord", "https://localhost"}, `generated zal list does not validate: line 16: <AuthorizationEndpointuri>: "https://localhost/oauth/authorize" is not a front-channel URI (https://host/path, no port, query or fragment)`},
	} {
		_, err := Generate(GenerateInput{Instances: []Instance{c.in}})
		if got := pgo.ErrorMessage(err); got != c.want {
			t.Errorf("%+v:\n got %s\nwant %s", c.in, got, c.want)
		}
	}
	if _, err := Generate(GenerateInput{}); pgo.ErrorMessage(err) != "at least one instance is needed" {
		t.Errorf("no instances: %v", err)
	}
}
