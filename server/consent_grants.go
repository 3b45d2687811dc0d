package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/web"
)

// amsterdam is the time zone patients read times in.
var amsterdam = func() *time.Location {
	if l, err := time.LoadLocation("Europe/Amsterdam"); err == nil {
		return l
	}
	return time.UTC
}()

// grants is "Mijn toestemmingen": every grant of the patient with the receiving
// PGO, the parts of the dossier, when, and its state, with a withdraw button for
// the active ones.
func (p *consentPages) grants(c echo.Context) error {
	cur := p.session(c)
	list, err := p.svc.Grants(c.Request().Context(), cur.sess.AccountID)
	if err != nil {
		return err
	}
	l := lang(c)
	now := p.svc.Now()()
	v := web.GrantsView{Page: p.page(c, web.T(l, "grants.title")), CSRF: account.CSRFToken(cur.id)}
	if c.QueryParam("info") == "withdrawn" {
		v.Info = "grants.withdrawn"
	}
	for _, g := range list {
		labels := make([]string, 0, len(g.Categories))
		for _, ct := range g.Categories {
			labels = append(labels, categoryLabel(l, ct))
		}
		st := g.StateAt(now)
		v.Grants = append(v.Grants, web.GrantRow{ID: g.ID, Client: g.ClientName, Categories: strings.Join(labels, ", "),
			Time: g.Created.In(amsterdam).Format("2-1-2006 15:04"), TimeISO: g.Created.UTC().Format(time.RFC3339),
			State: string(st), Active: st == consent.StateActive})
	}
	return p.render(c, http.StatusOK, "consent_grants", v)
}

// withdraw ends one of the patient's active grants at once (POST with CSRF).
func (p *consentPages) withdraw(c echo.Context) error {
	if err := p.svc.Withdraw(c.Request().Context(), c.Param("id"), p.caller(c)); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/toestemmingen?info=withdrawn")
}
