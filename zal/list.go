// Package zal reads MedMij's four lists (afsprakenstelsel, "Interfaces lijsten"):
// the Zorgaanbiederslijst (ZAL), the OAuth Client List (OCL), the
// Gegevensdienstnamenlijst (GNL) and the Whitelist. It parses them strictly
// against their published schemas, builds immutable indexes for fast look-ups,
// keeps the current versions in a Registry that refreshes them safely, and gives
// the target role an HTTP client that only talks to whitelisted hosts.
//
// Ports and the local demo: the ZAL schema forbids a port on the front-channel
// AuthorizationEndpointuri (the user's browser goes there) but allows one on the
// back-channel token and resource URIs. A loopback demo on https://noord.localhost:8443
// cannot honour that: an authorization URI without the port points at 443, where
// nothing listens unless the demo runs as root. We keep MedMij's rule strict by
// default and add one development-only escape: ParseOptions.LenientPorts (setting
// PGO_LISTS_LENIENT_PORTS=true, flag --lenient-ports on `pgo zal check` and
// `pgo zal generate`) admits a port on the authorization endpoint and nothing else
// (no query, no fragment, still https and a dotted host). `pgo zal generate`
// refuses a base URL with a port unless --lenient-ports is given, so a list meant
// for production never carries one by accident, and the server logs a warning
// when the setting is on.
package zal

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/pgo-koppelvlak/pgo"
)

// Kind names one of the four lists.
type Kind string

// The four lists.
const (
	KindZAL       Kind = "zal"
	KindOCL       Kind = "ocl"
	KindGNL       Kind = "gnl"
	KindWhitelist Kind = "whitelist"
)

// Kinds lists the four kinds in a stable order.
var Kinds = []Kind{KindZAL, KindOCL, KindGNL, KindWhitelist}

// Namespaces of the lists. MedMij uses the literal scheme "xmlns://".
const (
	NamespaceZAL3      = "xmlns://afsprakenstelsel.medmij.nl/zorgaanbiederslijst/release3/"
	NamespaceZAL2      = "xmlns://afsprakenstelsel.medmij.nl/zorgaanbiederslijst/release2/"
	NamespaceOCL       = "xmlns://afsprakenstelsel.medmij.nl/oauthclientlist/release2/"
	NamespaceGNL       = "xmlns://afsprakenstelsel.medmij.nl/gegevensdienstnamenlijst/release1/"
	NamespaceWhitelist = "xmlns://afsprakenstelsel.medmij.nl/whitelist/release2/"
)

// rootNames maps each list's root element to its kind and accepted namespaces.
var rootNames = map[string]struct {
	kind Kind
	ns   []string
}{
	"Zorgaanbiederslijst":      {KindZAL, []string{NamespaceZAL3, NamespaceZAL2}},
	"OAuthclientlist":          {KindOCL, []string{NamespaceOCL}},
	"Gegevensdienstnamenlijst": {KindGNL, []string{NamespaceGNL}},
	"Whitelist":                {KindWhitelist, []string{NamespaceWhitelist}},
}

// Header is what every list has: its kind, namespace, Tijdstempel, Volgnummer and
// the raw bytes it was parsed from (kept for persistence and change detection).
type Header struct {
	Kind        Kind
	Namespace   string
	Tijdstempel time.Time
	Volgnummer  int64
	Raw         []byte
	SHA256      string // hex of Raw
}

// Head returns the header; every list type embeds Header and so is a List.
func (h *Header) Head() *Header { return h }

// List is one parsed list: *ZAL, *OCL, *GNL or *Whitelist.
type List interface{ Head() *Header }

// ParseOptions tunes validation. The zero value is MedMij's strict rules.
type ParseOptions struct {
	// LenientPorts admits a port on the front-channel (authorization) endpoint.
	// Development only: the demo runs on a loopback port, and the afsprakenstelsel
	// forbids ports there. Never set it against real MedMij lists.
	LenientPorts bool
}

// Parse detects which list data is (by root element), validates it against that
// list's schema and returns the typed, indexed list.
func Parse(data []byte, opts ParseOptions) (List, error) {
	root, ns, err := parseTree(data)
	if err != nil {
		return nil, err
	}
	r, ok := rootNames[root.name]
	if !ok {
		return nil, listErr(root.line, root.name, "not a MedMij list (expected Zorgaanbiederslijst, OAuthclientlist, Gegevensdienstnamenlijst or Whitelist)")
	}
	return build(r.kind, root, ns, data, opts)
}

// ParseKind is Parse for a caller that knows which list it expects.
func ParseKind(kind Kind, data []byte, opts ParseOptions) (List, error) {
	l, err := Parse(data, opts)
	if err != nil {
		return nil, err
	}
	if got := l.Head().Kind; got != kind {
		return nil, listErr(1, "", "expected a %s list, got a %s list", kind, got)
	}
	return l, nil
}

func build(kind Kind, root *node, ns string, data []byte, opts ParseOptions) (List, error) {
	accepted := rootNames[root.name].ns
	okNS := false
	for _, a := range accepted {
		okNS = okNS || ns == a
	}
	if !okNS {
		return nil, listErr(root.line, root.name, "wrong namespace %q (expected %s)", ns, strings.Join(accepted, " or "))
	}
	var s elem
	switch kind {
	case KindZAL:
		s = zalSchema(ns == NamespaceZAL3, opts)
	case KindOCL:
		s = oclSchema
	case KindGNL:
		s = gnlSchema
	default:
		s = whitelistSchema
	}
	if err := validate(root, s); err != nil {
		return nil, err
	}
	h, err := header(kind, root, ns, data)
	if err != nil {
		return nil, err
	}
	switch kind {
	case KindZAL:
		return buildZAL(h, root)
	case KindOCL:
		return buildOCL(h, root)
	case KindGNL:
		return buildGNL(h, root)
	default:
		return buildWhitelist(h, root)
	}
}

func header(kind Kind, root *node, ns string, data []byte) (Header, error) {
	ts, _ := parseDateTime(strings.TrimSpace(text(root, "Tijdstempel")))
	vn, err := parseVolgnummer(text(root, "Volgnummer"))
	if err != nil {
		return Header{}, listErr(child(root, "Volgnummer").line, "Volgnummer", "%v", err)
	}
	sum := sha256.Sum256(data)
	return Header{Kind: kind, Namespace: ns, Tijdstempel: ts, Volgnummer: vn,
		Raw: data, SHA256: hex.EncodeToString(sum[:])}, nil
}

// Header schema parts shared by the four lists.
var (
	tijdstempel = leaf("Tijdstempel", checkTijdstempel)
	volgnummer  = leaf("Volgnummer", checkVolgnummer)
)

func child(n *node, name string) *node {
	if n == nil {
		return nil
	}
	for _, k := range n.kids {
		if k.name == name {
			return k
		}
	}
	return nil
}

func children(n *node, name string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, k := range n.kids {
		if k.name == name {
			out = append(out, k)
		}
	}
	return out
}

// text returns the text of n's first child called name ("" when absent); more
// names descend.
func text(n *node, path ...string) string {
	for _, p := range path {
		if n = child(n, p); n == nil {
			return ""
		}
	}
	return n.text
}

// duplicate returns the error for a value that must be unique in its scope.
func duplicate(n *node, what, value string, firstLine int) error {
	return listErr(n.line, n.name, "duplicate %s %q (first on line %d)", what, value, firstLine)
}

// errNotFound is returned by look-ups that find nothing.
func errNotFound(format string, args ...any) error {
	return pgo.Errorf(pgo.ENOTFOUND, format, args...)
}

// lineOf is the line of n's child name, or of n when there is none (release2).
func lineOf(n *node, name string) int {
	if c := child(n, name); c != nil {
		return c.line
	}
	return n.line
}

// ParseFile reads a list file (at most MaxListSize bytes) and parses it.
func ParseFile(path string, opts ParseOptions) (List, error) {
	f, err := readFileOrigin(path)
	if err != nil {
		return nil, err
	}
	return Parse(f.raw, opts)
}
