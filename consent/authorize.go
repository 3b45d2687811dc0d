package consent

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// Query parameters of MedMij's authorization request besides RFC 6749's.
const (
	ParamRequestID     = "MedMij-Request-ID"
	ParamCorrelationID = "X-Correlation-ID"
)

// carried are the parameters of an authorization request that travel through
// login and the consent form; nothing else is carried.
var carried = []string{"response_type", "client_id", "redirect_uri", "scope", "state",
	"code_challenge", "code_challenge_method", ParamRequestID, ParamCorrelationID}

// Caller is the browser request as the audit log records it.
type Caller struct {
	AccountID string // "" before login
	IP        string
	UserAgent string
}

// Request is a verified authorization request waiting for the patient's choice.
type Request struct {
	ClientID      string
	ClientName    string // from the OCL, never from the request
	Scope         string
	State         string
	RequestID     string // MedMij-Request-ID (query parameter)
	CorrelationID string // X-Correlation-ID (query parameter): the transfer's id
	// Params are the authorization parameters to carry through login and the
	// consent form (only those in carried).
	Params url.Values

	ar       fosite.AuthorizeRequester
	redirect *url.URL
}

// Authorize verifies an authorization request (GET query, or the consent form's
// POST). Errors are *OAuthError: an unknown client or a redirect_uri that is not
// exactly registered for it is answered with an error page (never a redirect);
// every other problem is sent back to the verified redirect_uri. Each refusal is
// audited.
func (s *Service) Authorize(ctx context.Context, r *http.Request, who Caller) (*Request, error) {
	if err := r.ParseForm(); err != nil {
		return nil, s.refuseAuthorize(ctx, who, "", "invalid_request", &OAuthError{Code: "invalid_request",
			Err: pgo.NewError(pgo.EINVALID, "consent.error.request", "The authorization request is malformed.")})
	}
	form := r.Form
	ctx = withFormIDs(ctx, form)
	cid := form.Get("client_id")
	for _, k := range carried {
		if len(form[k]) > 1 { // RFC 6749 §3.1: never more than once; which one would count?
			return nil, s.refuseAuthorize(ctx, who, cid, "duplicate_parameter", &OAuthError{Code: "invalid_request",
				Err: pgo.NewError(pgo.EINVALID, "consent.error.request", "A parameter of the authorization request is repeated.")})
		}
	}
	c, reason, err := s.lookupClient(cid)
	if err != nil {
		return nil, s.refuseAuthorize(ctx, who, cid, reason, &OAuthError{Code: "invalid_client", Err: err})
	}
	redirect, err := c.checkRedirect(form.Get("redirect_uri"))
	if err != nil {
		return nil, s.refuseAuthorize(ctx, who, cid, "invalid_redirect_uri", &OAuthError{Code: "invalid_request", Err: err})
	}
	back := func(code, reason, desc string) error {
		return s.refuseAuthorize(ctx, who, cid, reason, &OAuthError{Code: code, Description: desc,
			State: form.Get("state"), Issuer: s.cfg.Issuer, Redirect: redirect})
	}
	if rt := form.Get("response_type"); rt != "" && rt != "code" {
		// RFC 6749 §4.1.2.1: a response type this server does not offer (the
		// implicit grant is gone, RFC 9700 §2.1.2) has its own error code.
		return nil, back("unsupported_response_type", "unsupported_response_type", "Only response_type=code is supported.")
	}
	if msg := s.checkParams(form); msg != "" {
		return nil, back("invalid_request", "invalid_request", msg)
	}
	if form.Get("scope") != s.Scope() || !c.GetScopes().Has(s.Scope()) {
		return nil, back("invalid_scope", "invalid_scope", "The scope must be "+s.Scope()+" and this client must be allowed gegevensdienst 51.")
	}
	ar, err := s.oauth.NewAuthorizeRequest(ctx, r)
	if err != nil {
		oe := fromFosite(err)
		return nil, back(oe.Code, oe.Reason, oe.Description)
	}
	return &Request{ClientID: c.id, ClientName: c.name, Scope: s.Scope(), State: form.Get("state"),
		RequestID: reqctx.RequestID(ctx), CorrelationID: idOr(reqctx.CorrelationID(ctx), ""),
		Params: carry(form), ar: ar, redirect: redirect}, nil
}

// checkParams checks what MedMij requires beyond fosite: response_type code, a
// state, PKCE S256 (required when PGO_REQUIRE_PKCE is on) and well-formed ids.
// It returns the error description, "" when all is well.
func (s *Service) checkParams(form url.Values) string {
	switch {
	case form.Get("response_type") == "":
		return "The response_type parameter is required; it must be code."
	case form.Get("state") == "":
		return "The state parameter is required."
	case form.Get("code_challenge") == "" && s.cfg.RequirePKCE:
		return "PKCE is required: send code_challenge with code_challenge_method=S256."
	case form.Get("code_challenge") != "" && form.Get("code_challenge_method") != "S256":
		return "code_challenge_method must be S256."
	case form.Get("code_challenge") == "" && form.Get("code_challenge_method") != "":
		return "code_challenge_method without code_challenge."
	}
	for _, p := range []string{ParamRequestID, ParamCorrelationID} {
		if v := form.Get(p); v != "" && !reqctx.ValidID(v) {
			return p + " is not a valid id."
		}
	}
	return ""
}

// withFormIDs puts the authorization request's MedMij-Request-ID and
// X-Correlation-ID (query parameters on this front-channel request) into ctx,
// so that every audit record of the transfer carries them.
func withFormIDs(ctx context.Context, form url.Values) context.Context {
	ids := reqctx.FromContext(ctx)
	if v := form.Get(ParamRequestID); reqctx.ValidID(v) {
		ids.Request = v
	}
	if v := form.Get(ParamCorrelationID); reqctx.ValidID(v) {
		ids.Correlation = v
	}
	return reqctx.WithIDs(ctx, ids)
}

func idOr(v, def string) string {
	if reqctx.ValidID(v) {
		return v
	}
	if def == "" {
		return reqctx.NewID()
	}
	return def
}

func carry(form url.Values) url.Values {
	out := url.Values{}
	for _, k := range carried {
		if v := form.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	return out
}

// refuseAuthorize audits a refused authorization request and returns oe.
func (s *Service) refuseAuthorize(ctx context.Context, who Caller, clientID, reason string, oe *OAuthError) error {
	oe.Reason = reason
	if oe.Err == nil {
		oe.Err = pgo.NewError(pgo.EINVALID, "consent.error.request", "The authorization request was refused.")
	}
	ev := s.event(ctx, audit.ActAuthorizeRefused, who, clientID)
	ev.Outcome, ev.Reason = audit.Failure, auditReason(reason)
	ev.Details["error"] = oe.Code
	// Before login anyone can send these, as often as they like: a bounded
	// number is recorded, as for the peer routes (refuseToken). A patient's
	// refusal is always recorded.
	if who.AccountID == "" && !s.admitUnauthenticated(&ev) {
		return oe
	}
	if err := s.d.Store.Audit(ctx, ev); err != nil {
		return err
	}
	return oe
}

// event is the skeleton of an audit record of a browser step.
func (s *Service) event(ctx context.Context, a audit.Action, who Caller, clientID string) audit.Event {
	actor, actorID := audit.ActorUser, who.AccountID
	if actorID == "" {
		actor, actorID = audit.ActorPeer, safeClientID(clientID)
	}
	ids := reqctx.FromContext(ctx)
	return audit.Event{Time: s.now(), Action: a, Outcome: audit.Success, PersonID: who.AccountID,
		ActorType: actor, ActorID: actorID, Role: audit.RoleSource, SourceIP: who.IP, UserAgent: who.UserAgent,
		RequestID: ids.Request, CorrelationID: ids.Correlation,
		Details: map[string]string{"client_id": safeClientID(clientID)}}
}

// safeClientID is a client_id fit for the audit log: a host name of at most 253
// characters, else "invalid".
func safeClientID(id string) string {
	if id == "" {
		return "none"
	}
	if len(id) > 253 || strings.Trim(strings.ToLower(id), "abcdefghijklmnopqrstuvwxyz0123456789.-") != "" {
		return "invalid"
	}
	return id
}

func auditReason(r string) string {
	if r == "" {
		return "refused"
	}
	return r
}
