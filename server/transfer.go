package server

import (
	"context"
	"io"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/web"
)

// The target role's pages (issue 12): choose the old PGO, go there for consent,
// come back on the redirect_uri, watch the transfer live, open what arrived.

// TransferService is the transfer domain as the pages use it (*transfer.Service).
type TransferService interface {
	Sources(query string) ([]transfer.SourceChoice, string, error)
	Start(ctx context.Context, a transfer.Actor, provider string) (transfer.Transfer, error)
	AuthorizeURL(ctx context.Context, a transfer.Actor, id string) (string, error)
	HandleCallback(ctx context.Context, a transfer.Actor, cb transfer.Callback) (transfer.Transfer, error)
	Retry(ctx context.Context, a transfer.Actor, id string) (transfer.Transfer, error)
	Get(ctx context.Context, userID, id string) (transfer.Transfer, error)
	List(ctx context.Context, userID string) ([]transfer.Transfer, error)
	Documents(ctx context.Context, userID, transferID string) ([]transfer.Document, error)
	OpenDocument(ctx context.Context, userID, id string) (transfer.Document, io.Reader, error)
}

// TransferHub wakes a progress stream when its transfer changes (the store.Hub
// of transferdb.NewHub, fed by PostgreSQL LISTEN/NOTIFY, so it sees changes made
// by any process).
type TransferHub interface {
	Subscribe(id string) (<-chan struct{}, func())
}

// TransferDeps is what the transfer pages need.
type TransferDeps struct {
	// Accounts is the session store (the same service MountAccount got); nil: the
	// pages are not mounted.
	Accounts  *account.Service
	Transfers TransferService
	Hub       TransferHub
}

type transferPages struct {
	*accountPages
	t   TransferService
	hub TransferHub
}

// MountTransfer registers the target role's pages, all behind a patient's login:
// /ophalen (choose and start), /ophalen/:id (progress, self-refreshing without
// JavaScript), /ophalen/:id/events (Server-Sent Events), /oauth/callback (the
// redirect_uri), /documenten and /documenten/:id (received documents).
func (s *Server) MountTransfer(d TransferDeps) {
	if d.Accounts == nil || d.Transfers == nil {
		return
	}
	p := &transferPages{accountPages: &accountPages{Server: s, d: AccountDeps{Service: d.Accounts}}, t: d.Transfers, hub: d.Hub}
	b, patient := s.group(KindBrowser, s.rememberLang), p.requireLogin(account.RolePatient)
	b.GET("/ophalen", p.choose, patient)
	b.POST("/ophalen", p.start, patient, p.checkCSRF)
	b.GET("/ophalen/:id", p.progress, patient)
	b.GET("/ophalen/:id/toestemming", p.toSource, patient)
	b.POST("/ophalen/:id/opnieuw", p.retry, patient, p.checkCSRF)
	b.GET(transfer.CallbackPath, p.callback, patient)
	b.GET("/documenten", p.documents, patient)
	b.GET("/documenten/:id", p.download, patient)
	if d.Hub != nil {
		b.GET("/ophalen/:id/events", p.events, patient)
	}
}

// actor describes the request for the transfer domain and its audit records.
func (p *transferPages) actor(c echo.Context) transfer.Actor {
	cur := p.session(c)
	return transfer.Actor{UserID: cur.sess.AccountID, SessionID: cur.id, IP: c.RealIP(),
		UserAgent: c.Request().UserAgent(), RequestID: reqctx.RequestID(c.Request().Context())}
}

// choose lists the qualified sources from the ZAL (searchable) and the
// patient's recent transfers.
func (p *transferPages) choose(c echo.Context) error {
	return p.renderChoose(c, http.StatusOK, "")
}

func (p *transferPages) renderChoose(c echo.Context, status int, errKey string) error {
	l := lang(c)
	q := c.QueryParam("q")
	v := web.TransferChooseView{Page: p.page(c, web.T(l, "transfer.choose.title")),
		CSRF: account.CSRFToken(p.session(c).id), Query: q, Error: errKey}
	sources, service, err := p.t.Sources(q)
	switch pgo.ErrorCode(err) {
	case "":
		v.Service = service
		for _, s := range sources {
			v.Sources = append(v.Sources, web.TransferSource{Name: s.Name, Display: s.Display})
		}
	case pgo.EUNAVAILABLE:
		v.Unavailable = true
	default:
		return err
	}
	recent, err := p.t.List(c.Request().Context(), p.session(c).sess.AccountID)
	if err != nil {
		return err
	}
	for _, t := range recent {
		v.Recent = append(v.Recent, web.TransferRow{ID: t.ID, Source: t.SourceDisplay, Status: string(t.Status),
			When: t.Created.In(displayZone).Format("02-01-2006 15:04")})
	}
	return p.render(c, status, "transfer_choose", v)
}

// start creates the transfer and shows its page, which links to the source.
func (p *transferPages) start(c echo.Context) error {
	t, err := p.t.Start(c.Request().Context(), p.actor(c), c.FormValue("bron"))
	if is(err, transfer.ErrNoSource) {
		return p.renderChoose(c, http.StatusBadRequest, "transfer.err.no_source")
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/ophalen/"+url.PathEscape(t.ID))
}

// toSource sends the browser to the source's authorization endpoint. It is a
// link, not a form, because the CSP's form-action 'self' forbids a form whose
// answer redirects to another origin.
func (p *transferPages) toSource(c echo.Context) error {
	u, err := p.t.AuthorizeURL(c.Request().Context(), p.actor(c), c.Param("id"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	return c.Redirect(http.StatusSeeOther, u)
}

// callback is the redirect_uri: it checks state, iss and error and redeems the
// code (transfer.Service.HandleCallback), then shows the transfer. The code never
// reaches a page or a log line (the access log writes the path only).
func (p *transferPages) callback(c echo.Context) error {
	q := c.Request().URL.Query()
	_, hasIss := q["iss"]
	t, err := p.t.HandleCallback(c.Request().Context(), p.actor(c), transfer.Callback{
		State: q.Get("state"), Code: q.Get("code"), Iss: q.Get("iss"), HasIss: hasIss, Error: q.Get("error")})
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/ophalen/"+url.PathEscape(t.ID))
}

// retry is "Opnieuw proberen": the same transfer again, or a new one that asks
// for a new consent.
func (p *transferPages) retry(c echo.Context) error {
	t, err := p.t.Retry(c.Request().Context(), p.actor(c), c.Param("id"))
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/ophalen/"+url.PathEscape(t.ID))
}
