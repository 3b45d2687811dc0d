package zal

import "github.com/pgo-koppelvlak/pgo"

// Look-ups on the current lists. Each loads the snapshot once (lock-free) and
// returns EUNAVAILABLE while the list it needs has not been loaded.

func notLoaded(k Kind) error {
	return pgo.Errorf(pgo.EUNAVAILABLE, "the %s list is not loaded yet", k)
}

// Sources returns the qualified sources (APD) for a gegevensdienst, sorted by name.
func (r *Registry) Sources(gegevensdienst string) ([]Source, error) {
	z := r.Snapshot().ZAL
	if z == nil {
		return nil, notLoaded(KindZAL)
	}
	return z.Sources(gegevensdienst), nil
}

// Search returns the qualified sources whose name contains query.
func (r *Registry) Search(gegevensdienst, query string) ([]Source, error) {
	z := r.Snapshot().ZAL
	if z == nil {
		return nil, notLoaded(KindZAL)
	}
	return z.Search(gegevensdienst, query), nil
}

// Source returns one qualified source by provider name.
func (r *Registry) Source(provider, gegevensdienst string) (Source, error) {
	z := r.Snapshot().ZAL
	if z == nil {
		return Source{}, notLoaded(KindZAL)
	}
	return z.Source(provider, gegevensdienst)
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
