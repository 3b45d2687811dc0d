package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/internal/browsertest"
	"github.com/pgo-koppelvlak/pgo/web"
)

// consentUI drives chromium through the source role's pages: the client's
// callback is a test route on the same server, reached as zuid.localhost:PORT
// (chromium resolves *.localhost to loopback), so the browser really follows the
// redirect that the consent screen's CSP (form-action) must allow.
type consentUI struct {
	*uiRun
	ce *consentEnv
	cb string // the registered redirect_uri on the test port
	js bool   // JavaScript on while loading and submitting
}

func newConsentUI(t *testing.T, o consentOpts) *consentUI {
	e := newConsentEnv(t, o)
	e.s.group(KindBrowser).GET("/oauth/callback", func(c echo.Context) error {
		return c.HTML(http.StatusOK, `<!doctype html><html lang="nl"><title>PGO Zuid</title><h1>Terug bij PGO Zuid</h1></html>`)
	})
	u := newUIRun(t, e.accountEnv)
	base, _ := url.Parse(u.base)
	cb := "https://zuid.localhost:" + base.Port() + "/oauth/callback"
	e.redirects[zuid] = append(e.redirects[zuid], cb)
	return &consentUI{uiRun: u, ce: e, cb: cb}
}

// step loads or submits with JavaScript on or off as the run asks.
func (c *consentUI) step(what string, status int, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	resp, err := browsertest.Load(c.ctx, c.js, steps...)
	if err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
	if int(resp.Status) != status {
		c.t.Errorf("%s (js %v): status %d, want %d", what, c.js, resp.Status, status)
	}
}

func (c *consentUI) click(what string, status int, sel string) {
	c.t.Helper()
	if c.eval(fmt.Sprintf(`String(document.querySelector(%q) !== null)`, sel)) != "true" {
		c.t.Fatalf("%s: no %s on the page", what, sel)
	}
	c.step(what, status, chromedp.Click(chromedp.CSS(sel)))
}

// toggle clicks checkboxes (a user's click, no script of ours).
func (c *consentUI) toggle(ids ...string) {
	c.t.Helper()
	for _, id := range ids {
		if err := chromedp.Do(c.ctx, chromedp.Click(chromedp.ID(id))); err != nil {
			c.t.Fatalf("click %s: %v", id, err)
		}
	}
}

// at returns the browser's address.
func (c *consentUI) at() *url.URL {
	c.t.Helper()
	loc, err := chromedp.Run(c.ctx, chromedp.Location())
	if err != nil {
		c.t.Fatal(err)
	}
	u, _ := url.Parse(loc)
	return u
}

// authorize opens a fresh authorization request of PGO Zuid in language l.
func (c *consentUI) authorize(state string, l web.Lang, status int) {
	c.t.Helper()
	p := authParams(state, "")
	p.Set("redirect_uri", c.cb)
	p.Set("lang", string(l))
	c.step("authorize "+state, status, chromedp.Navigate(c.base+"/oauth/authorize?"+p.Encode()))
}

// login answers the login pages the authorization request was sent to.
func (c *consentUI) login(l web.Lang) {
	c.t.Helper()
	if at := c.at(); at.Path != "/login" || !strings.HasPrefix(at.Query().Get("next"), "/oauth/authorize?") {
		c.t.Fatalf("%s: not sent to the login with the request: %s", l, at)
	}
	c.fill("name", patientName, "password", testPassword)
	c.click("password", http.StatusOK, "main button[type=submit]")
	c.fill("code", totpNow(c.ce))
	c.ce.clock.add(30 * time.Second)
	c.click("code", http.StatusOK, "main button[type=submit]")
}

func (c *consentUI) fill(fields ...string) {
	c.t.Helper()
	for i := 0; i+1 < len(fields); i += 2 {
		if err := chromedp.Do(c.ctx, chromedp.SetValue(chromedp.ID(fields[i]), fields[i+1])); err != nil {
			c.t.Fatalf("fill %s: %v", fields[i], err)
		}
	}
}

// The consent flow in a real browser, in Dutch and English, with JavaScript off
// and on: login then the consent screen (axe-clean), deselecting a category
// (only the ticked ones are shared), allow without any category (the screen
// again, with its error, axe-clean), refuse (error=access_denied back at the
// client), and withdrawing on "Mijn toestemmingen" (axe-clean before and after).
func TestUIConsentFlow(t *testing.T) {
	c := newConsentUI(t, consentOpts{})
	ctx := context.Background()
	n := 0
	for _, l := range web.Langs {
		for _, js := range []bool{false, true} {
			c.js = js
			n++
			c.as(nil)
			state := fmt.Sprintf("state-ui-%s-%v", l, js)
			c.authorize(state, l, http.StatusOK)
			c.login(l)
			if at := c.at(); at.Path != "/oauth/authorize" || at.Query().Get("state") != state {
				t.Fatalf("%s: after login at %s", l, at)
			}
			c.check(fmt.Sprintf("consent-js%v", js), l)
			if got := c.eval(`String(document.querySelectorAll("main button[name=decision]").length)`); got != "2" {
				t.Errorf("%s: %s decision buttons", l, got)
			}
			// deselect "problems", allow
			c.toggle("cat-problems")
			c.click("allow", http.StatusOK, "button[value=allow]")
			at := c.at()
			if at.Scheme+"://"+at.Host+at.Path != c.cb || at.Query().Get("code") == "" || at.Query().Get("state") != state ||
				at.Query().Get("iss") != testIssuer {
				t.Fatalf("%s js %v: after allow at %s", l, js, at.Redacted())
			}
			c.ce.secrets = append(c.ce.secrets, at.Query().Get("code"))
			g, _ := c.ce.svc.Grants(ctx, c.ce.patient)
			if len(g) != 2*n-1 || g[0].State != consent.StateActive || has(g[0].Categories, dossier.CatProblems) || len(g[0].Categories) == 0 {
				t.Errorf("%s js %v: grant %+v", l, js, g[0])
			}
			// allow with nothing ticked
			c.authorize(state+"-none", l, http.StatusOK)
			c.toggle(ticked(c)...)
			c.click("allow none", http.StatusUnprocessableEntity, "button[value=allow]")
			c.check(fmt.Sprintf("consent-none-js%v", js), l)
			if got := c.eval(`document.querySelector(".error-summary") ? "yes" : "no"`); got != "yes" {
				t.Errorf("%s: no error summary", l)
			}
			// refuse
			c.click("refuse", http.StatusOK, "button[value=refuse]")
			if at := c.at(); at.Query().Get("error") != "access_denied" || at.Query().Get("iss") != testIssuer {
				t.Errorf("%s: after refuse at %s", l, at)
			}
			// withdraw
			c.step("grants", http.StatusOK, chromedp.Navigate(c.base+"/toestemmingen?lang="+string(l)))
			c.check(fmt.Sprintf("grants-js%v", js), l)
			c.click("withdraw", http.StatusOK, "form[action$='/intrekken'] button")
			c.check(fmt.Sprintf("grants-withdrawn-js%v", js), l)
			if got := c.eval(`document.querySelector("[role=status]").textContent`); got != web.T(l, "grants.withdrawn") {
				t.Errorf("%s: notice %q", l, got)
			}
			if w := countState(c.ce, consent.StateWithdrawn); w != n {
				t.Errorf("%s js %v: %d grants withdrawn, want %d", l, js, w, n)
			}
		}
	}
}

// ticked returns the ids of the ticked category boxes.
func ticked(c *consentUI) []string {
	return strings.Fields(c.eval(`Array.from(document.querySelectorAll("input[name=category]:checked"), i => i.id).join(" ")`))
}

func countState(e *consentEnv, st consent.State) int {
	g, _ := e.svc.Grants(context.Background(), e.patient)
	k := 0
	for _, x := range g {
		if x.State == st {
			k++
		}
	}
	return k
}

func has(cs []dossier.Category, c dossier.Category) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}
