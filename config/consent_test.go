package config

import (
	"strings"
	"testing"
	"time"
)

func loadWith(vars map[string]string) (*Config, error) {
	return Load("", func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
}

// The consent settings: defaults (code 60 s, token and consent 15 min, PKCE off
// for MedMij core clients), bounds (code at most 10 min, token at most 15 min),
// and PGO_CLIENT_REDIRECTS parsed into exact URIs per host, refusing anything
// that is not https on its own host without a fragment.
func TestConsentSettings(t *testing.T) {
	c, err := loadWith(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Consent.CodeTTL != time.Minute || c.Consent.TokenTTL != 15*time.Minute || c.Consent.ConsentTTL != 15*time.Minute ||
		c.Consent.RequirePKCE || c.Consent.ProviderName != "" {
		t.Errorf("defaults %+v", c.Consent)
	}
	c, err = loadWith(map[string]string{"PGO_PROVIDER_NAME": "noord", "PGO_REQUIRE_PKCE": "true",
		"PGO_CLIENT_REDIRECTS": "zuid.localhost=https://zuid.localhost/oauth/callback, zuid.localhost=https://zuid.localhost/cb2,oost.example=https://oost.example:8443/cb"})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Consent.Redirects()
	if len(r["zuid.localhost"]) != 2 || r["oost.example"][0] != "https://oost.example:8443/cb" || !c.Consent.RequirePKCE {
		t.Errorf("redirects %v", r)
	}
	for name, vars := range map[string]map[string]string{
		"code lifetime over 10 min":  {"PGO_CODE_LIFETIME": "11m"},
		"token lifetime over 15 min": {"PGO_TOKEN_LIFETIME": "16m"},
		"consent over 15 min":        {"PGO_CONSENT_LIFETIME": "1h"},
		"provider with @medmij":      {"PGO_PROVIDER_NAME": "noord@medmij"},
		"provider with spaces":       {"PGO_PROVIDER_NAME": "PGO Noord"},
		"redirect http":              {"PGO_CLIENT_REDIRECTS": "zuid.localhost=http://zuid.localhost/cb"},
		"redirect other host":        {"PGO_CLIENT_REDIRECTS": "zuid.localhost=https://evil.example/cb"},
		"redirect fragment":          {"PGO_CLIENT_REDIRECTS": "zuid.localhost=https://zuid.localhost/cb#x"},
		"redirect without host":      {"PGO_CLIENT_REDIRECTS": "https://zuid.localhost/cb"},
		"redirect host upper case":   {"PGO_CLIENT_REDIRECTS": "Zuid.localhost=https://Zuid.localhost/cb"},
	} {
		if _, err := loadWith(vars); err == nil || !strings.Contains(err.Error(), "PGO_") {
			t.Errorf("%s: err = %v, want one naming the setting", name, err)
		}
	}
}
