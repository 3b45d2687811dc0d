package server

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/pgo-koppelvlak/pgo/internal/browsertest"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
	"github.com/pgo-koppelvlak/pgo/web"
)

// Every transfer page a patient can see — choose, choose with an error, waiting
// for consent, said no, failed with "Opnieuw proberen", done, received documents —
// passes axe-core's WCAG 2.2 A/AA rules in both languages with JavaScript off.
func TestUITransferPagesAccessible(t *testing.T) {
	e := newTransferEnv(t)
	b := e.patient(t, "anouk")
	ctx := context.Background()
	actor := func() transfer.Actor {
		return transfer.Actor{UserID: e.userID(t, "anouk"), SessionID: b.session()}
	}
	waiting, err := e.svc.Start(ctx, actor(), "bron@medmij")
	if err != nil {
		t.Fatal(err)
	}
	calmID, cb := e.consentThroughPages(t, b, url.Values{"error": {"access_denied"}})
	b.get(transfer.CallbackPath + "?" + cb.Encode())
	failedID, cb := e.consentThroughPages(t, b, nil)
	b.get(transfer.CallbackPath + "?" + cb.Encode())
	e.src.Set(transfertest.Faults{Down: true})
	_ = e.svc.Fetch(ctx, failedID, true)
	e.src.Set(transfertest.Faults{})
	doneID, cb := e.consentThroughPages(t, b, nil)
	b.get(transfer.CallbackPath + "?" + cb.Encode())
	if err := e.svc.Fetch(ctx, doneID, true); err != nil {
		t.Fatal(err)
	}

	u := newUIRun(t, e.accountEnv)
	u.as(b)
	for _, l := range web.Langs {
		u.page("transfer-choose", "/ophalen", http.StatusOK, l)
		u.submit("#bron-list ~ p.actions button[type=submit]", http.StatusBadRequest)
		u.check("transfer-choose-error", l)
		u.page("transfer-waiting", "/ophalen/"+waiting.ID, http.StatusOK, l)
		u.page("transfer-said-no", "/ophalen/"+calmID, http.StatusOK, l)
		u.page("transfer-failed", "/ophalen/"+failedID, http.StatusOK, l)
		u.page("transfer-done", "/ophalen/"+doneID, http.StatusOK, l)
		u.page("transfer-documents", "/documenten", http.StatusOK, l)
	}
}

// With JavaScript on, the progress page follows the event stream: the worker's
// work shows up without a click, and at the end the page shows the result.
func TestUITransferProgressLive(t *testing.T) {
	e := newTransferEnv(t)
	b := e.patient(t, "anouk")
	id, cb := e.consentThroughPages(t, b, nil)
	b.get(transfer.CallbackPath + "?" + cb.Encode())
	u := newUIRun(t, e.accountEnv)
	u.as(b)
	if err := chromedp.Do(u.ctx, browsertest.Scripts(true), chromedp.Navigate(u.base+"/ophalen/"+id)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(u.ctx, chromedp.WaitReady("#transfer-live")); err != nil {
		t.Fatal(err)
	}
	fetched := make(chan error, 1)
	go func() { fetched <- e.svc.Fetch(context.Background(), id, true) }()
	if err := chromedp.Do(u.ctx, chromedp.WaitVisible(".notice-success")); err != nil {
		t.Fatalf("the page did not come to the result by itself: %v", err)
	}
	if err := <-fetched; err != nil {
		t.Fatal(err)
	}
	if got := u.eval(`document.querySelector(".notice-success h2").textContent`); got != web.T(web.NL, "transfer.done.heading") &&
		got != web.T(web.EN, "transfer.done.heading") {
		t.Errorf("result heading %q", got)
	}
}

// userID is the account id of name.
func (e *transferEnv) userID(t *testing.T, name string) string {
	t.Helper()
	list, err := e.accountEnv.svc.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.Name == name {
			return a.ID
		}
	}
	t.Fatalf("no account %s", name)
	return ""
}
