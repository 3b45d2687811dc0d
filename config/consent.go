package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Consent holds the authorization server settings of the source role (package
// consent, issue 10).
type Consent struct {
	// ProviderName is our Zorgaanbiedernaam on the ZAL without "@medmij"; the one
	// scope we grant is ProviderName~51. Empty: the source role is off.
	ProviderName string
	// ClientRedirects is PGO_CLIENT_REDIRECTS as given; Redirects parses it.
	ClientRedirects string
	RequirePKCE     bool
	CodeTTL         time.Duration
	TokenTTL        time.Duration
	ConsentTTL      time.Duration
}

func (c *Consent) settings() []setting {
	return []setting{
		str("PGO_PROVIDER_NAME", "", "our ZAL name without @medmij; the scope we grant is NAME~51 (source role off when empty)", &c.ProviderName, optional(checkProviderName)),
		str("PGO_CLIENT_REDIRECTS", "", "exact redirect URIs per client PGO: host=https://host/path,host2=https://host2/cb (a host may repeat)", &c.ClientRedirects, optional(checkRedirects)),
		// MedMij's core clients send no PKCE; the demo (and RFC 9700 §2.1.1) wants it.
		boolean("PGO_REQUIRE_PKCE", "false", "refuse authorization requests without PKCE (S256)", &c.RequirePKCE),
		duration("PGO_CODE_LIFETIME", "60s", "how long an authorization code may be redeemed", &c.CodeTTL, time.Second, 10*time.Minute),
		duration("PGO_TOKEN_LIFETIME", "15m", "access token lifetime (at most 15 minutes)", &c.TokenTTL, time.Minute, 15*time.Minute),
		duration("PGO_CONSENT_LIFETIME", "15m", "how long a one-time consent lasts (at most 15 minutes)", &c.ConsentTTL, time.Minute, 15*time.Minute),
	}
}

// Redirects returns the registered redirect URIs per client host name.
func (c Consent) Redirects() map[string][]string {
	m, _ := parseRedirects(c.ClientRedirects)
	return m
}

func checkProviderName(v string) error {
	if strings.HasSuffix(v, "@medmij") {
		return fmt.Errorf("give the name without @medmij")
	}
	if strings.Trim(v, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" {
		return fmt.Errorf("%q: use lower case letters, digits, '-' and '.'", v)
	}
	return nil
}

func checkRedirects(v string) error { _, err := parseRedirects(v); return err }

// parseRedirects reads host=uri pairs separated by commas. Each URI must be https,
// on its host (no port check: the exact string is what is compared), without a
// fragment.
func parseRedirects(v string) (map[string][]string, error) {
	m := map[string][]string{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		host, uri, ok := strings.Cut(part, "=")
		if !ok || host == "" || host != strings.ToLower(host) {
			return nil, fmt.Errorf("%q is not host=https://host/path (host in lower case)", part)
		}
		u, err := url.Parse(uri)
		if err != nil || u.Scheme != "https" || u.Hostname() != host || u.Fragment != "" || strings.Contains(uri, "#") {
			return nil, fmt.Errorf("%q: the redirect URI must be https on %s, without a fragment", part, host)
		}
		m[host] = append(m[host], uri)
	}
	return m, nil
}
