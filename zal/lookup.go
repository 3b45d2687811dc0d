package zal

import (
	"net/url"

	"github.com/pgo-koppelvlak/pgo"
)

// Look-ups on the current lists. Each loads the snapshot once (lock-free) and
// returns EUNAVAILABLE while the list it needs has not been loaded.

func notLoaded(k Kind) error {
	return pgo.Errorf(pgo.EUNAVAILABLE, "the %s list is not loaded yet", k)
}

// Sources returns the qualified sources (APD) for a gegevensdienst, sorted by name.
func (r *Registry) Sources(gegevensdienst string) ([]Source, error) {
	snap := r.Snapshot()
	z := snap.ZAL
	if z == nil {
		return nil, notLoaded(KindZAL)
	}
	return snap.named(z.Sources(gegevensdienst)), nil
}

// Search returns the qualified sources whose name contains query.
func (r *Registry) Search(gegevensdienst, query string) ([]Source, error) {
	snap := r.Snapshot()
	z := snap.ZAL
	if z == nil {
		return nil, notLoaded(KindZAL)
	}
	return snap.named(z.Search(gegevensdienst, query)), nil
}

// Source returns one qualified source by provider name.
func (r *Registry) Source(provider, gegevensdienst string) (Source, error) {
	snap := r.Snapshot()
	z := snap.ZAL
	if z == nil {
		return Source{}, notLoaded(KindZAL)
	}
	src, err := z.Source(provider, gegevensdienst)
	if err == nil {
		src = snap.named([]Source{src})[0]
	}
	return src, err
}

// Endpoints returns a provider's endpoints for a gegevensdienst.
func (r *Registry) Endpoints(provider, gegevensdienst string) (Endpoints, error) {
	z := r.Snapshot().ZAL
	if z == nil {
		return Endpoints{}, notLoaded(KindZAL)
	}
	return z.Endpoints(provider, gegevensdienst)
}

// Client returns the OCL entry for a client host name (the OAuth client_id).
func (r *Registry) Client(host string) (Client, error) {
	o := r.Snapshot().OCL
	if o == nil {
		return Client{}, notLoaded(KindOCL)
	}
	return o.Client(host)
}

// GegevensdienstName returns the GNL display name of a gegevensdienst.
func (r *Registry) GegevensdienstName(id string) (string, error) {
	g := r.Snapshot().GNL
	if g == nil {
		return "", notLoaded(KindGNL)
	}
	if n, ok := g.Name(id); ok {
		return n, nil
	}
	return "", errNotFound("gegevensdienst %q is not on the Gegevensdienstnamenlijst", id)
}

// Whitelisted reports whether host is on the Whitelist; false while it is not loaded.
func (r *Registry) Whitelisted(host string) bool {
	w := r.Snapshot().Whitelist
	return w != nil && w.Contains(host)
}

// named returns copies of sources whose Display is the OCL's organisation name
// for the host of their authorization endpoint, when that host is on the OCL.
// The ZAL carries no display name (only "noord@medmij"), while a PGO that offers
// gegevensdienst 51 is also an OAuth client of the koppelvlak, so the OCL holds
// the name MedMij publishes for it ("PGO Noord"): the patient chooses by that
// name, and the source's consent screen shows ours by the same list.
func (s *Snapshot) named(sources []Source) []Source {
	if s == nil || s.OCL == nil || len(sources) == 0 {
		return sources
	}
	out := make([]Source, len(sources))
	for i, src := range sources {
		out[i] = src
		if u, err := url.Parse(src.Authorization); err == nil {
			if c, err := s.OCL.Client(u.Hostname()); err == nil && c.Organisation != "" {
				out[i].Display = c.Organisation
			}
		}
	}
	return out
}
