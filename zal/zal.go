package zal

import (
	"slices"
	"sort"
	"strings"
)

// Values the PGO-koppelvlak uses (Technisch ontwerp 2025-PGOK).
const (
	// Gegevensdienst51 is "Verzamelen Documenten 3.0 (pdf/a)", the dossier transfer.
	Gegevensdienst51 = "51"
	// TypeAPD is the Aanbiedertype of a PGO that offers documents over the
	// PGO-koppelvlak (ZAL release3).
	TypeAPD = "APD"
)

// ZAL is a parsed Zorgaanbiederslijst with its indexes. It never changes after
// parsing, so any number of goroutines may read it.
type ZAL struct {
	Header
	Providers []Provider // document order
	byName    map[string]int
	sources   map[string][]Source // gegevensdienst -> APD providers, sorted by name
}

// Provider is one Zorgaanbieder.
type Provider struct {
	Name     string // e.g. "noord@medmij"
	Type     string // ZA, BAZB or APD; empty in release2 lists
	Versions []InterfaceVersion
}

// InterfaceVersion is one Interfaceversie; release2 lists have one with an empty ID.
type InterfaceVersion struct {
	ID       string
	Services []Service
}

// Service is one Gegevensdienst a provider offers, with its endpoints.
type Service struct {
	ID               string
	AuthorizationURI string // front channel: no port
	TokenURI         string // back channel
	Subscription     *Subscription
	Roles            []SystemRole
}

// Subscription is the optional Abonneren element (release3).
type Subscription struct{ MaxDuration, URI string }

// SystemRole is one Systeemrol with its resource endpoint.
type SystemRole struct{ Code, ResourceURI string }

// Endpoints are what the target needs to run the authorization-code flow against
// one provider for one gegevensdienst.
type Endpoints struct {
	Provider         string
	Type             string
	Gegevensdienst   string
	InterfaceVersion string
	Authorization    string
	Token            string
	Roles            []SystemRole
}

// Resource returns the resource endpoint of the first Systeemrol (the FHIR base for
// gegevensdienst 51, which has one role).
func (e Endpoints) Resource() string {
	if len(e.Roles) == 0 {
		return ""
	}
	return e.Roles[0].ResourceURI
}

// Source is a qualified source PGO as shown to the user: the provider name, its
// display name (without "@medmij") and the endpoints for the gegevensdienst.
type Source struct {
	Name    string
	Display string
	Endpoints
}

func zalSchema(release3 bool, opts ParseOptions) elem {
	service := many("Gegevensdienst",
		leaf("GegevensdienstId", checkID),
		one("AuthorizationEndpoint", leaf("AuthorizationEndpointuri", frontURI(opts.LenientPorts))),
		one("TokenEndpoint", leaf("TokenEndpointuri", backURI)),
		opt(one("Abonneren", leaf("MaximaleDuur", checkMaxDuration), leaf("SubscriptionEndpointuri", backURI))),
		one("Systeemrollen", many("Systeemrol",
			leaf("Systeemrolcode", checkID),
			one("ResourceEndpoint", leaf("ResourceEndpointuri", backURI)))),
	)
	provider := many("Zorgaanbieder", leaf("Zorgaanbiedernaam", checkProviderName), one("Gegevensdiensten", service))
	if release3 {
		provider = many("Zorgaanbieder",
			leaf("Zorgaanbiedernaam", checkProviderName),
			leaf("Aanbiedertype", checkAanbiedertype),
			one("Interfaceversies", many("Interfaceversie",
				leaf("InterfaceversieId", checkID),
				one("Gegevensdiensten", service))))
	}
	return one("Zorgaanbiederslijst", tijdstempel, volgnummer, one("Zorgaanbieders", provider))
}

func buildZAL(h Header, root *node) (*ZAL, error) {
	pns := children(child(root, "Zorgaanbieders"), "Zorgaanbieder")
	z := &ZAL{Header: h, byName: make(map[string]int, len(pns)), Providers: make([]Provider, 0, len(pns))}
	for _, pn := range pns {
		p := Provider{Name: text(pn, "Zorgaanbiedernaam"), Type: text(pn, "Aanbiedertype")}
		if first, dup := z.byName[p.Name]; dup {
			return nil, duplicate(child(pn, "Zorgaanbiedernaam"), "Zorgaanbiedernaam", p.Name, child(pns[first], "Zorgaanbiedernaam").line)
		}
		versions := children(child(pn, "Interfaceversies"), "Interfaceversie")
		if versions == nil { // release2: the Gegevensdiensten sit directly in the provider
			versions = []*node{pn}
		}
		var err error
		if p.Versions, err = buildVersions(versions, pn); err != nil {
			return nil, err
		}
		z.byName[p.Name] = len(z.Providers)
		z.Providers = append(z.Providers, p)
	}
	z.index()
	return z, nil
}

// buildVersions builds a provider's Interfaceversies (pn itself in release2)
// and refuses a repeated InterfaceversieId.
func buildVersions(versions []*node, pn *node) ([]InterfaceVersion, error) {
	out := make([]InterfaceVersion, 0, len(versions))
	var seen map[string]int // only needed with more than one version
	if len(versions) > 1 {
		seen = make(map[string]int, len(versions))
	}
	for _, vn := range versions {
		v, err := buildVersion(vn)
		if err != nil {
			return nil, err
		}
		if first, dup := seen[v.ID]; dup && vn != pn {
			return nil, duplicate(child(vn, "InterfaceversieId"), "InterfaceversieId", v.ID, first)
		}
		if seen != nil {
			seen[v.ID] = lineOf(vn, "InterfaceversieId")
		}
		out = append(out, v)
	}
	return out, nil
}

// children of a nil node are nil: child() returns nil for absent elements.
func buildVersion(vn *node) (InterfaceVersion, error) {
	v := InterfaceVersion{ID: text(vn, "InterfaceversieId")}
	ids := map[string]int{}
	for _, sn := range children(child(vn, "Gegevensdiensten"), "Gegevensdienst") {
		s := Service{
			ID:               text(sn, "GegevensdienstId"),
			AuthorizationURI: text(sn, "AuthorizationEndpoint", "AuthorizationEndpointuri"),
			TokenURI:         text(sn, "TokenEndpoint", "TokenEndpointuri"),
		}
		if first, dup := ids[s.ID]; dup {
			return v, duplicate(child(sn, "GegevensdienstId"), "GegevensdienstId", s.ID, first)
		}
		ids[s.ID] = child(sn, "GegevensdienstId").line
		if an := child(sn, "Abonneren"); an != nil {
			s.Subscription = &Subscription{MaxDuration: text(an, "MaximaleDuur"), URI: text(an, "SubscriptionEndpointuri")}
		}
		codes := map[string]int{}
		for _, rn := range children(child(sn, "Systeemrollen"), "Systeemrol") {
			r := SystemRole{Code: text(rn, "Systeemrolcode"), ResourceURI: text(rn, "ResourceEndpoint", "ResourceEndpointuri")}
			if first, dup := codes[r.Code]; dup {
				return v, duplicate(child(rn, "Systeemrolcode"), "Systeemrolcode", r.Code, first)
			}
			codes[r.Code] = child(rn, "Systeemrolcode").line
			s.Roles = append(s.Roles, r)
		}
		v.Services = append(v.Services, s)
	}
	return v, nil
}

func (z *ZAL) index() {
	z.sources = map[string][]Source{}
	for _, p := range z.Providers {
		if p.Type != TypeAPD {
			continue
		}
		// Ids are unique within a version (buildVersion), so only several
		// versions can offer one gegevensdienst twice: the first one counts.
		var done map[string]bool
		if len(p.Versions) > 1 {
			done = map[string]bool{}
		}
		for _, v := range p.Versions {
			for _, s := range v.Services {
				if done[s.ID] {
					continue
				}
				if done != nil {
					done[s.ID] = true
				}
				z.sources[s.ID] = append(z.sources[s.ID], Source{Name: p.Name, Display: DisplayName(p.Name), Endpoints: endpoints(p, v, s)})
			}
		}
	}
	byName := func(a, b Source) int { return strings.Compare(a.Name, b.Name) }
	for _, list := range z.sources {
		if !slices.IsSortedFunc(list, byName) {
			slices.SortFunc(list, byName)
		}
	}
}

func endpoints(p Provider, v InterfaceVersion, s Service) Endpoints {
	return Endpoints{Provider: p.Name, Type: p.Type, Gegevensdienst: s.ID, InterfaceVersion: v.ID,
		Authorization: s.AuthorizationURI, Token: s.TokenURI, Roles: s.Roles}
}

// DisplayName is the provider name without "@medmij".
func DisplayName(provider string) string { return strings.TrimSuffix(provider, "@medmij") }

// Sources returns the qualified sources for a gegevensdienst: providers with
// Aanbiedertype APD that offer it, sorted by name (PGOK-FR023). The slice is shared:
// do not modify it.
func (z *ZAL) Sources(gegevensdienst string) []Source { return z.sources[gegevensdienst] }

// Search returns the qualified sources whose name contains query (case-insensitive;
// an empty query returns all), sorted by name.
func (z *ZAL) Search(gegevensdienst, query string) []Source {
	q := strings.ToLower(strings.TrimSpace(query))
	all := z.sources[gegevensdienst]
	if q == "" {
		return all
	}
	var out []Source
	for _, s := range all {
		if strings.Contains(s.Name, q) {
			out = append(out, s)
		}
	}
	return out
}

// Source returns one qualified source (APD, offering the gegevensdienst) by name.
func (z *ZAL) Source(name, gegevensdienst string) (Source, error) {
	list := z.sources[gegevensdienst]
	i := sort.Search(len(list), func(i int) bool { return list[i].Name >= name })
	if i < len(list) && list[i].Name == name {
		return list[i], nil
	}
	return Source{}, errNotFound("%q is not a qualified source for gegevensdienst %s on the ZAL", name, gegevensdienst)
}

// Provider returns a provider by its Zorgaanbiedernaam.
func (z *ZAL) Provider(name string) (Provider, bool) {
	i, ok := z.byName[name]
	if !ok {
		return Provider{}, false
	}
	return z.Providers[i], true
}

// Endpoints returns a provider's endpoints for a gegevensdienst, whatever its
// Aanbiedertype; with several Interfaceversies the first listed one wins.
func (z *ZAL) Endpoints(provider, gegevensdienst string) (Endpoints, error) {
	p, ok := z.Provider(provider)
	if !ok {
		return Endpoints{}, errNotFound("provider %q is not on the ZAL", provider)
	}
	for _, v := range p.Versions {
		for _, s := range v.Services {
			if s.ID == gegevensdienst {
				return endpoints(p, v, s), nil
			}
		}
	}
	return Endpoints{}, errNotFound("provider %q does not offer gegevensdienst %s", provider, gegevensdienst)
}
