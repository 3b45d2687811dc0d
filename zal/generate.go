package zal

import (
	"net/url"
	"strings"
	"time"

	"github.com/pgo-koppelvlak/pgo"
)

// Endpoint paths every pgo instance serves under its base URL; `pgo zal generate`
// writes them into the ZAL, and the server mounts its handlers on them.
const (
	AuthorizePath = "/oauth/authorize"
	TokenPath     = "/oauth/token"
	FHIRPath      = "/51/fhir" // the FHIR base of gegevensdienst 51 (transfer contract: ISSUER/51/fhir)
)

// Values `pgo zal generate` writes for gegevensdienst 51.
const (
	// InterfaceVersionPGOK is the Interfaceversie generated lists use.
	InterfaceVersionPGOK = "1"
	// SystemRoleDocuments is the Systeemrolcode generated for the FHIR resource
	// endpoint of gegevensdienst 51 (our choice: the list allows 1..30 characters).
	SystemRoleDocuments = "PGOK-51-BRON-FHIR"
	// Name51 is the GNL Weergavenaam of gegevensdienst 51.
	Name51 = "Verzamelen Documenten 3.0 (pdf/a)"
)

// FileNames are the names MedMij publishes the lists under; generate writes these.
var FileNames = map[Kind]string{
	KindZAL:       "MedMij_Zorgaanbiederslijst.xml",
	KindOCL:       "MedMij_OAuthclientlist.xml",
	KindGNL:       "MedMij_Gegevensdienstnamenlijst.xml",
	KindWhitelist: "MedMij_Whitelist.xml",
}

// Instance is one local pgo instance to put on generated lists.
type Instance struct {
	Name    string // provider name without "@medmij", e.g. "noord"
	BaseURL string // e.g. "https://noord.localhost:8443"
}

// ClientSpec is one OCL entry; without any, every instance's host is a client.
type ClientSpec struct {
	Host, Organisation string
	Gegevensdiensten   []string
}

// GenerateInput describes the lists to generate.
type GenerateInput struct {
	Instances    []Instance
	Clients      []ClientSpec
	Volgnummer   int64     // 0: the current Unix time, so a re-generated list always wins
	Tijdstempel  time.Time // zero: now
	LenientPorts bool      // admit a port on the authorization endpoint (dev only)
}

// Generate builds the four lists for a set of local instances: each instance is
// an APD provider offering gegevensdienst 51 with its endpoints under its base URL,
// an OAuth client and a MedMijNode. Every list is parsed back before it is returned,
// so what Generate returns always validates (with in.LenientPorts).
func Generate(in GenerateInput) (map[Kind][]byte, error) {
	if len(in.Instances) == 0 {
		return nil, pgo.Errorf(pgo.EINVALID, "at least one instance is needed")
	}
	h := Header{Volgnummer: in.Volgnummer, Tijdstempel: in.Tijdstempel}
	if h.Volgnummer == 0 {
		h.Volgnummer = time.Now().Unix()
	}
	z, o := &ZAL{Header: h}, &OCL{Header: h}
	wl := &Whitelist{Header: h, set: map[string]bool{}}
	for _, inst := range in.Instances {
		p, host, err := instanceProvider(inst, in.LenientPorts)
		if err != nil {
			return nil, err
		}
		z.Providers = append(z.Providers, p)
		addHost(wl, host)
		if len(in.Clients) == 0 {
			o.Clients = append(o.Clients, Client{Hostname: host, Organisation: "PGO " + titleCase(inst.Name)})
		}
	}
	for _, c := range in.Clients {
		o.Clients = append(o.Clients, Client{Hostname: c.Host, Organisation: c.Organisation, Gegevensdiensten: c.Gegevensdiensten})
		addHost(wl, c.Host)
	}
	g := &GNL{Header: h, Names: map[string]string{Gegevensdienst51: Name51}, IDs: []string{Gegevensdienst51}}
	out := map[Kind][]byte{
		KindZAL: MarshalZAL(z), KindOCL: MarshalOCL(o), KindGNL: MarshalGNL(g), KindWhitelist: MarshalWhitelist(wl),
	}
	for _, k := range Kinds {
		if _, err := ParseKind(k, out[k], ParseOptions{LenientPorts: in.LenientPorts}); err != nil {
			return nil, pgo.Errorf(pgo.EINVALID, "generated %s list does not validate: %s", k, pgo.ErrorMessage(err))
		}
	}
	return out, nil
}

func addHost(wl *Whitelist, host string) {
	if !wl.set[host] {
		wl.set[host] = true
		wl.Hosts = append(wl.Hosts, host)
	}
}

func instanceProvider(inst Instance, lenient bool) (Provider, string, error) {
	u, err := url.Parse(inst.BaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return Provider{}, "", pgo.Errorf(pgo.EINVALID, "instance %s: base URL %q must be https://host[:port][/path]", inst.Name, inst.BaseURL)
	}
	if u.Port() != "" && !lenient {
		return Provider{}, "", pgo.Errorf(pgo.EINVALID,
			"instance %s: base URL %q has a port, but the ZAL forbids a port on the authorization endpoint (MedMij front-channel URI); serve on 443 or use --lenient-ports for a local demo", inst.Name, inst.BaseURL)
	}
	base := strings.TrimSuffix(u.Scheme+"://"+u.Host+u.EscapedPath(), "/")
	p := Provider{Name: inst.Name + "@medmij", Type: TypeAPD, Versions: []InterfaceVersion{{
		ID: InterfaceVersionPGOK,
		Services: []Service{{
			ID:               Gegevensdienst51,
			AuthorizationURI: base + AuthorizePath,
			TokenURI:         base + TokenPath,
			Roles:            []SystemRole{{Code: SystemRoleDocuments, ResourceURI: base + FHIRPath}},
		}},
	}}}
	if err := checkProviderName(p.Name); err != nil {
		return Provider{}, "", pgo.Errorf(pgo.EINVALID, "instance %s: %v", inst.Name, err)
	}
	return p, strings.ToLower(u.Hostname()), nil
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
