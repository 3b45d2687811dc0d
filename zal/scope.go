package zal

import (
	"strings"

	"github.com/pgo-koppelvlak/pgo"
)

// Scope returns the OAuth scope for a provider and gegevensdienst as the MedMij
// afsprakenstelsel defines it: the Zorgaanbiedernaam without "@medmij", a tilde and
// the GegevensdienstId, e.g. Scope("noord@medmij", "51") == "noord~51".
func Scope(provider, gegevensdienst string) string {
	return DisplayName(provider) + "~" + gegevensdienst
}

// ParseScope splits a scope into the full provider name ("noord@medmij") and the
// GegevensdienstId, checking both against the ZAL simple types.
func ParseScope(scope string) (provider, gegevensdienst string, err error) {
	name, id, ok := strings.Cut(scope, "~")
	if !ok || strings.Contains(id, "~") {
		return "", "", pgo.Errorf(pgo.EINVALID, "scope %q is not of the form <name>~<gegevensdienst>", scope)
	}
	provider = name + "@medmij"
	if err := checkProviderName(provider); err != nil {
		return "", "", pgo.Errorf(pgo.EINVALID, "scope %q: provider name: %v", scope, err)
	}
	if err := checkID(id); err != nil || strings.TrimSpace(id) != id {
		return "", "", pgo.Errorf(pgo.EINVALID, "scope %q: gegevensdienst id must be 1..30 characters without spaces", scope)
	}
	return provider, id, nil
}
