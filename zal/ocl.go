package zal

import (
	"sort"
	"strings"
)

// OCL is a parsed OAuth Client List: the PGOs (by host name) that may act as OAuth
// client, with their organisation names for the consent screen.
type OCL struct {
	Header
	Clients []Client // document order
	byHost  map[string]int
}

// Client is one OAuthclient. Gegevensdiensten is empty when the list does not say
// which gegevensdiensten the client may ask for (release2 without the element).
type Client struct {
	Hostname         string
	Organisation     string
	Gegevensdiensten []string
}

// Allows reports whether the client may ask for gegevensdienst: always when the
// list names none for it, else only the ones it names.
func (c Client) Allows(gegevensdienst string) bool {
	if len(c.Gegevensdiensten) == 0 {
		return true
	}
	for _, g := range c.Gegevensdiensten {
		if g == gegevensdienst {
			return true
		}
	}
	return false
}

var oclSchema = one("OAuthclientlist", tijdstempel, volgnummer,
	one("OAuthclients", many("OAuthclient",
		leaf("Hostname", checkHost),
		leaf("OAuthclientOrganisatienaam", checkOrgName),
		opt(one("Gegevensdiensten", many("Gegevensdienst", leaf("GegevensdienstId", checkID)))))))

func buildOCL(h Header, root *node) (*OCL, error) {
	o := &OCL{Header: h, byHost: map[string]int{}}
	lines := map[string]int{}
	for _, cn := range children(child(root, "OAuthclients"), "OAuthclient") {
		c := Client{Hostname: text(cn, "Hostname"), Organisation: text(cn, "OAuthclientOrganisatienaam")}
		if first, dup := lines[c.Hostname]; dup {
			return nil, duplicate(child(cn, "Hostname"), "Hostname", c.Hostname, first)
		}
		lines[c.Hostname] = child(cn, "Hostname").line
		ids := map[string]int{}
		for _, gn := range children(child(cn, "Gegevensdiensten"), "Gegevensdienst") {
			id := text(gn, "GegevensdienstId")
			if first, dup := ids[id]; dup {
				return nil, duplicate(child(gn, "GegevensdienstId"), "GegevensdienstId", id, first)
			}
			ids[id] = child(gn, "GegevensdienstId").line
			c.Gegevensdiensten = append(c.Gegevensdiensten, id)
		}
		o.byHost[c.Hostname] = len(o.Clients)
		o.Clients = append(o.Clients, c)
	}
	return o, nil
}

// Client returns the OAuth client registered for a host name (case-insensitive, a
// port or trailing dot is ignored): the client_id of MedMij's token interface.
func (o *OCL) Client(host string) (Client, error) {
	if i, ok := o.byHost[normalHost(host)]; ok {
		return o.Clients[i], nil
	}
	return Client{}, errNotFound("client %q is not on the OAuth Client List", host)
}

// GNL is a parsed Gegevensdienstnamenlijst: display names of gegevensdiensten.
type GNL struct {
	Header
	Names map[string]string // GegevensdienstId -> Weergavenaam; do not modify
	IDs   []string          // sorted
}

var gnlSchema = one("Gegevensdienstnamenlijst", tijdstempel, volgnummer,
	one("Gegevensdiensten", many("Gegevensdienst",
		leaf("GegevensdienstId", checkID),
		leaf("Weergavenaam", checkDisplayName))))

func buildGNL(h Header, root *node) (*GNL, error) {
	g := &GNL{Header: h, Names: map[string]string{}}
	lines := map[string]int{}
	for _, gn := range children(child(root, "Gegevensdiensten"), "Gegevensdienst") {
		id := text(gn, "GegevensdienstId")
		if first, dup := lines[id]; dup {
			return nil, duplicate(child(gn, "GegevensdienstId"), "GegevensdienstId", id, first)
		}
		lines[id] = child(gn, "GegevensdienstId").line
		g.Names[id] = text(gn, "Weergavenaam")
		g.IDs = append(g.IDs, id)
	}
	sort.Strings(g.IDs)
	return g, nil
}

// Name returns the display name of a gegevensdienst (for the consent screen).
func (g *GNL) Name(id string) (string, bool) {
	n, ok := g.Names[id]
	return n, ok
}

// Whitelist is a parsed Whitelist: the MedMij nodes we may connect to.
type Whitelist struct {
	Header
	Hosts []string // document order
	set   map[string]bool
}

var whitelistSchema = one("Whitelist", tijdstempel, volgnummer,
	one("MedMijNodes", many("MedMijNode").leafOf(checkHost)))

// leafOf turns an element into a repeatable leaf.
func (e elem) leafOf(check func(string) error) elem { e.kids, e.check = nil, check; return e }

func buildWhitelist(h Header, root *node) (*Whitelist, error) {
	w := &Whitelist{Header: h, set: map[string]bool{}}
	lines := map[string]int{}
	for _, hn := range children(child(root, "MedMijNodes"), "MedMijNode") {
		host := hn.text
		if first, dup := lines[host]; dup {
			return nil, duplicate(hn, "MedMijNode", host, first)
		}
		lines[host] = hn.line
		w.set[host] = true
		w.Hosts = append(w.Hosts, host)
	}
	return w, nil
}

// Contains reports whether host (case-insensitive; a port or trailing dot is
// ignored) is a MedMijNode on the list.
func (w *Whitelist) Contains(host string) bool { return w.set[normalHost(host)] }

// normalHost lower-cases a host name and drops a port and a trailing dot.
func normalHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}
