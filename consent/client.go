package consent

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// client is a peer PGO as fosite sees it: its id is its host name on the OAuth
// Client List, its name the OCL's OAuthclientOrganisatienaam (never a request
// parameter), its redirect URIs those registered in PGO_CLIENT_REDIRECTS. It has no
// secret: it authenticates with its TLS certificate (authenticateClient).
type client struct {
	id, name  string
	redirects []string
	scopes    []string // our scope when the OCL allows it gegevensdienst 51, else none
	audience  []string
}

func (c *client) GetID() string                      { return c.id }
func (c *client) GetHashedSecret() []byte            { return nil }
func (c *client) GetRedirectURIs() []string          { return c.redirects }
func (c *client) GetGrantTypes() fosite.Arguments    { return fosite.Arguments{"authorization_code"} }
func (c *client) GetResponseTypes() fosite.Arguments { return fosite.Arguments{"code"} }
func (c *client) GetScopes() fosite.Arguments        { return c.scopes }
func (c *client) IsPublic() bool                     { return false }
func (c *client) GetAudience() fosite.Arguments      { return c.audience }

// Refusals of a client before any redirect: each names its audit reason.
var (
	errUnknownClient = pgo.NewError(pgo.EINVALID, "consent.error.unknown_client",
		"The requesting PGO is not known here.")
	errClientNotOnOCL = pgo.NewError(pgo.EINVALID, "consent.error.client_not_on_ocl",
		"The requesting PGO is not on MedMij's OAuth Client List.")
)

// lookupClient returns the client for a client_id: it must have redirect URIs
// registered here (else errUnknownClient) and be on the OCL (else
// errClientNotOnOCL). The second result is the audit reason of a refusal.
func (s *Service) lookupClient(id string) (*client, string, error) {
	host := strings.ToLower(id)
	reg, ok := s.cfg.Redirects[host]
	if id == "" || !ok || host != id {
		if _, err := s.d.Lists.Client(id); id != "" && err == nil {
			return nil, "client_not_registered", errUnknownClient
		}
		return nil, "unknown_client", errUnknownClient
	}
	oc, err := s.d.Lists.Client(host)
	if err != nil {
		if pgo.ErrorCode(err) == pgo.EUNAVAILABLE {
			return nil, "lists_unavailable", err
		}
		return nil, "client_not_on_ocl", errClientNotOnOCL
	}
	c := &client{id: host, name: oc.Organisation, redirects: reg, audience: []string{s.Audience()}}
	if oc.Allows(Gegevensdienst) {
		c.scopes = []string{s.Scope()}
	}
	return c, "", nil
}

// clientAuthError is an invalid_client refusal with the reason for the audit log.
type clientAuthError struct {
	reason string
	*fosite.RFC6749Error
}

func (e *clientAuthError) Unwrap() error { return e.RFC6749Error }

func refuseClient(reason, hint string) error {
	return &clientAuthError{reason: reason, RFC6749Error: fosite.ErrInvalidClient.WithHint(hint)}
}

// authenticateClient is our fosite ClientAuthenticationStrategy (RFC 8705 §2.1,
// tls_client_auth; MedMij token interface): the client proves who it is with the
// TLS client certificate alone. The certificate was verified against
// PGO_CLIENT_CA by the TLS stack (or the trusted proxy path) and put into the
// context by the server; here it must name the client_id host (DNS SAN). Client
// secrets and assertions are refused outright, so a leaked secret is worth nothing.
func (s *Service) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (fosite.Client, error) {
	for _, k := range []string{"client_secret", "client_assertion", "client_assertion_type"} {
		if _, ok := form[k]; ok {
			return nil, refuseClient("client_secret_sent", "Client secrets are not accepted; authenticate with your TLS client certificate (tls_client_auth).")
		}
	}
	if _, _, ok := r.BasicAuth(); ok {
		return nil, refuseClient("client_secret_sent", "Client secrets are not accepted; authenticate with your TLS client certificate (tls_client_auth).")
	}
	peer, ok := reqctx.PeerFromContext(ctx)
	if !ok {
		return nil, refuseClient("no_client_certificate", "A TLS client certificate that chains to the MedMij trust anchor is required.")
	}
	id := form.Get("client_id")
	c, reason, err := s.lookupClient(id)
	if reason == "lists_unavailable" {
		// Not the client's fault: the OAuth Client List is not loaded yet, so
		// say so and let it retry (RFC 6749 §4.1.2.1's temporarily_unavailable, 503).
		return nil, &clientAuthError{reason: reason, RFC6749Error: fosite.ErrTemporarilyUnavailable.WithHint(
			"The MedMij OAuth Client List is not available here yet; try again later.")}
	}
	if err != nil {
		return nil, refuseClient(reason, "The client_id is not a client known here.")
	}
	if !peer.HasName(c.id) {
		return nil, refuseClient("certificate_mismatch", "The TLS client certificate does not name the client_id.")
	}
	return c, nil
}

// fositeClient is the fosite ClientManager look-up (authorization requests).
func (s *Service) fositeClient(id string) (fosite.Client, error) {
	c, _, err := s.lookupClient(id)
	if err != nil {
		return nil, fosite.ErrNotFound.WithWrap(err)
	}
	return c, nil
}

// checkRedirect enforces MedMij's rules on redirect_uri before anything is
// redirected (RFC 9700 §4.1.1: exact string matching): https, on the client's own
// host name, no fragment, and exactly one of the URIs registered for the client.
// Trailing slashes, other case, extra query parameters and other ports all fail
// the exact comparison.
func (c *client) checkRedirect(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	bad := err != nil || raw == "" || u.Scheme != "https" || u.Fragment != "" || strings.Contains(raw, "#") ||
		u.Hostname() != c.id
	if !bad {
		bad = true
		for _, r := range c.redirects {
			if r == raw {
				bad = false
			}
		}
	}
	if bad {
		return nil, pgo.NewError(pgo.EINVALID, "consent.error.redirect_uri",
			"The redirect_uri is not registered for this PGO.")
	}
	return u, nil
}
