package server

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/web"
)

// ConsentDeps is what the source role's authorization server needs (issue 10).
type ConsentDeps struct {
	// Service is the authorization server; nil: none of these routes is mounted.
	Service *consent.Service
	// Accounts are the login sessions (the same service MountAccount got): the
	// consent screen is behind login, and a patient's grants are theirs.
	Accounts *account.Service
}

// consentPages serves the consent screen, "Mijn toestemmingen" and the OAuth
// endpoints; it uses the account pages' session handling.
type consentPages struct {
	*accountPages
	svc *consent.Service
}

// MountConsent registers the authorization server: the consent screen
// (GET/POST /oauth/authorize) and "Mijn toestemmingen" as browser routes, the
// token and revocation endpoints as peer routes, and the metadata (RFC 8414) and
// JWKS as public JSON routes.
func (s *Server) MountConsent(d ConsentDeps) {
	if d.Service == nil || d.Accounts == nil {
		return
	}
	p := &consentPages{accountPages: &accountPages{Server: s, d: AccountDeps{Service: d.Accounts}}, svc: d.Service}
	b := s.groups.Browser
	patient := p.requireLogin(account.RolePatient)
	b.GET("/oauth/authorize", p.authorize)
	b.POST("/oauth/authorize", p.decide, patient, p.checkCSRF)
	b.GET("/toestemmingen", p.grants, patient)
	b.POST("/toestemmingen/:id/intrekken", p.withdraw, patient, p.checkCSRF)
	// The token and revocation endpoints check the client certificate
	// themselves (peerOptional), so that a missing or foreign certificate is an
	// audited OAuth invalid_client rather than a bare 401.
	peer := s.group(KindPeer, s.peerOptional)
	peer.POST("/oauth/token", p.token)
	peer.POST("/oauth/revoke", p.revoke)
	// Metadata and keys are public JSON on the public listener (not the
	// operations one): peers read them before they have a token.
	public := s.group(KindPeer)
	public.GET("/.well-known/oauth-authorization-server", p.metadata)
	public.GET("/oauth/jwks", p.jwks)
}

// caller describes the browser request for consent's audit records.
func (p *consentPages) caller(c echo.Context) consent.Caller {
	cl := client(c)
	who := consent.Caller{IP: cl.IP, UserAgent: cl.UserAgent}
	if cur := p.session(c); cur.sess != nil && cur.sess.Stage == account.StageFull {
		who.AccountID = cur.sess.AccountID
	}
	return who
}

// authorize is GET /oauth/authorize: verify the request (errors: page or
// redirect, see consent.OAuthError), then login if needed (the request travels
// as a local ?next= path, never as an absolute URL), then the consent screen.
func (p *consentPages) authorize(c echo.Context) error {
	if err := p.session(c).err; err != nil {
		return err // not "logged out": no detour through the login page
	}
	who := p.caller(c)
	req, err := p.svc.Authorize(c.Request().Context(), c.Request(), who)
	if err != nil {
		return err
	}
	cur := p.session(c)
	if who.AccountID == "" {
		next := "/oauth/authorize?" + req.Params.Encode()
		return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
	}
	if cur.sess.Role != account.RolePatient {
		return errRole
	}
	if c.Request().Method == http.MethodHead {
		// The page's headers only: nothing was shown to the patient, so
		// nothing is audited as consent_shown (and no preview is built).
		c.Response().Header().Set(echo.HeaderContentType, echo.MIMETextHTMLCharsetUTF8)
		return c.NoContent(http.StatusOK)
	}
	return p.screen(c, req, who, cur.id, nil, "")
}

// screen renders the consent screen. The page's CSP also allows the form to lead
// to the client's redirect_uri: browsers apply form-action to the redirect that
// follows the POST.
func (p *consentPages) screen(c echo.Context, req *consent.Request, who consent.Caller, sid string, checked map[string]bool, errKey string, errArgs ...any) error {
	sc, err := p.svc.Screen(c.Request().Context(), req, who)
	if err != nil {
		return err
	}
	l := lang(c)
	v := web.ConsentView{Page: p.page(c, web.T(l, "consent.title")), CSRF: account.CSRFToken(sid),
		Provider: p.cfg.InstanceName, Client: req.ClientName, Gegevensdienst: sc.GegevensdienstName,
		Minutes: sc.ValidMinutes, Error: errKey, ErrorArgs: errArgs, OverMax: sc.OverMax(), Items: sc.Items(), MaxItems: sc.MaxItems}
	for _, k := range consentParamOrder(req.Params) {
		v.Params = append(v.Params, web.Hidden{Name: k, Value: req.Params.Get(k)})
	}
	for _, ct := range sc.Categories {
		on := checked == nil || checked[string(ct.Key)]
		v.Categories = append(v.Categories, web.ConsentCategory{Key: string(ct.Key), Label: categoryLabel(l, ct.Key),
			Count: ct.Count, Checked: on, TooLarge: sc.Alone(ct.Key)})
	}
	for _, sec := range sc.Preview.Sections {
		ps := web.PreviewSection{Key: string(sec.Category), Label: categoryLabel(l, sec.Category), Columns: sec.Columns,
			Count: sc.Count(sec.Category)}
		for _, it := range sec.Items {
			ps.Rows = append(ps.Rows, it.Cells)
		}
		v.Preview = append(v.Preview, ps)
	}
	if origin := redirectOrigin(req.Params.Get("redirect_uri")); origin != "" {
		c.Response().Header().Set("Content-Security-Policy", strings.Replace(csp, "form-action 'self'", "form-action 'self' "+origin, 1))
	}
	status := http.StatusOK
	if errKey != "" {
		status = http.StatusUnprocessableEntity
	}
	return p.render(c, status, "consent_screen", v)
}

func consentParamOrder(v url.Values) []string {
	keys := make([]string, 0, len(v))
	for _, k := range []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge",
		"code_challenge_method", consent.ParamRequestID, consent.ParamCorrelationID} {
		if v.Has(k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// redirectOrigin is scheme://host[:port] of a verified redirect URI.
func redirectOrigin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func categoryLabel(l web.Lang, c dossier.Category) string {
	for _, ci := range dossier.Categories {
		if ci.Key == c {
			if l == web.EN {
				return ci.LabelEN
			}
			return ci.LabelNL
		}
	}
	return string(c)
}

// decide is POST /oauth/authorize: the patient's allow or refuse. Allow without a
// category shows the screen again with the error.
func (p *consentPages) decide(c echo.Context) error {
	who := p.caller(c)
	ctx := c.Request().Context()
	allow := c.FormValue("decision") == "allow"
	cats := c.Request().Form["category"]
	loc, err := p.svc.Decide(ctx, c.Request(), who, allow, cats)
	var tooLarge *consent.TooLargeError
	switch {
	case pgo.ErrorReason(err) == "consent.error.no_category":
		return p.again(c, who, map[string]bool{}, "consent.error.no_category")
	case errors.As(err, &tooLarge):
		// the patient's choice stays ticked, to untick parts of it
		checked := map[string]bool{}
		for _, k := range cats {
			checked[k] = true
		}
		return p.again(c, who, checked, consent.ReasonTooLarge, tooLarge.Items, tooLarge.Max)
	case err != nil:
		return err
	}
	return c.Redirect(http.StatusSeeOther, loc)
}

// again shows the consent screen once more with an error about the choice (the
// translation key errKey with its values), nothing having been granted.
func (p *consentPages) again(c echo.Context, who consent.Caller, checked map[string]bool, errKey string, args ...any) error {
	req, err := p.svc.Authorize(c.Request().Context(), c.Request(), who)
	if err != nil {
		return err
	}
	return p.screen(c, req, who, p.session(c).id, checked, errKey, args...)
}
