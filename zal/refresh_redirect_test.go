package zal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
)

// A list URL is https only; a redirect must not take the fetch to plain HTTP,
// where anyone on the path could hand us a list of their own (the lists are not
// signed: TLS is their only protection).
func TestRefreshRefusesRedirectToPlainHTTP(t *testing.T) {
	ls := &listServer{}
	ls.set(genZAL(t, 10, 2), 200, "", 0)
	r, _ := newURLRegistry(t, ls)
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(genZAL(t, 11, 1))
	}))
	t.Cleanup(plain.Close)
	ls.set(nil, 0, "", 0)
	redirect := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/MedMij_Zorgaanbiederslijst.xml", http.StatusFound))
	t.Cleanup(redirect.Close)
	client := redirect.Client()
	client.Timeout = 2 * time.Second
	r.opts.HTTPClient = client
	r.opts.Origins[KindZAL] = Origin{URL: redirect.URL + "/MedMij_Zorgaanbiederslijst.xml?api=1"}

	err := r.Refresh(context.Background(), KindZAL)
	if pgo.ErrorCode(err) != pgo.EUNAVAILABLE || pgo.ErrorMessage(err) != "fetching the list failed: redirected to a URL that is not https" {
		t.Fatalf("refresh through a redirect to http: %v", err)
	}
	if v := r.Snapshot().ZAL.Volgnummer; v != 10 {
		t.Fatalf("list from plain HTTP was taken: Volgnummer %d", v)
	}
}
