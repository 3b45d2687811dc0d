package accountdb_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/account/accounttest"
)

func (f *fixture) oidc(t *testing.T, issuer string) *account.OIDC {
	t.Helper()
	c := account.OIDCConfig{Issuer: opIssuer, ClientID: opClientID, ClientSecret: opClientSecret,
		RedirectURL: opRedirect, MinACR: acrSubstantial}
	if issuer != "" {
		c.Issuer, c.DiscoveryURL = issuer, opIssuer
	}
	o, err := f.svc.NewOIDC(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	o.TokenNow = time.Now // the OP signs with the real clock
	return o
}

// authorize drives the OP's own login page as a browser would and returns the
// state and code it sends back to our redirect URI.
func authorize(t *testing.T, authURL, user string) (state, code string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	var final *url.URL
	hc := &http.Client{Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), opRedirect) {
			final = r.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("OP did not show its login page (at %s)", resp.Request.URL)
	}
	resp, err = hc.PostForm(opIssuer+"login/username", url.Values{"id": {id}, "username": {user}, "password": {accounttest.Password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if final == nil {
		t.Fatalf("OP did not redirect back (status %d at %s)", resp.StatusCode, resp.Request.URL)
	}
	return final.Query().Get("state"), final.Query().Get("code")
}

// flow runs Start, the OP login and returns what Callback needs; tamper may change
// the pending request before the callback.
func (f *fixture) flow(t *testing.T, o *account.OIDC, user string) (sid, state, code string) {
	t.Helper()
	sid, err := f.svc.StartAnonymous(context.Background(), cli)
	if err != nil {
		t.Fatal(err)
	}
	u, err := o.Start(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.Parse(u)
	if q.Query().Get("code_challenge_method") != "S256" || q.Query().Get("nonce") == "" || q.Query().Get("state") == "" {
		t.Fatalf("authorization request lacks PKCE, nonce or state: %s", u)
	}
	state, code = authorize(t, u, user)
	return sid, state, code
}

func TestOIDCLoginAgainstRealProvider(t *testing.T) {
	f := setup(t, testCfg)
	ctx := context.Background()
	o := f.oidc(t, "")
	sid, state, code := f.flow(t, o, accounttest.UserSubstantial)
	newID, sess, err := o.Callback(ctx, sid, state, code, cli)
	if err != nil {
		t.Fatalf("login at acr substantial refused: %v", err)
	}
	if newID == sid || sess.Stage != account.StageFull || sess.Role != account.RolePatient {
		t.Fatalf("session %+v (rotated: %v)", sess, newID != sid)
	}
	if _, err := f.svc.Session(ctx, sid); !errors.Is(err, account.ErrNoSession) {
		t.Fatal("pre-login session still valid")
	}
	// The same subject logs in again: the same account, not a new one.
	f.clock.add(time.Minute)
	sid, state, code = f.flow(t, o, accounttest.UserSubstantial)
	_, sess2, err := o.Callback(ctx, sid, state, code, cli)
	if err != nil || sess2.AccountID != sess.AccountID {
		t.Fatalf("second login: %v, account %s vs %s", err, sess2.AccountID, sess.AccountID)
	}
	list, _ := f.svc.List(ctx)
	if len(list) != 1 || list[0].OIDCIssuer != opIssuer || list[0].OIDCSubject != "id-high" {
		t.Fatalf("accounts: %+v", list)
	}
	// A state is used once.
	if _, _, err := o.Callback(ctx, sid, state, code, cli); !errors.Is(err, account.ErrOIDCFailed) {
		t.Fatalf("replayed state: %v", err)
	}
}

func TestOIDCRefusals(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		user   string
		issuer string
		tamper func(f *fixture, o *account.OIDC)
		reason string
		detail string
	}{
		{name: "acr too low", user: accounttest.UserLow, reason: "acr_too_low"},
		{name: "wrong nonce", user: accounttest.UserSubstantial, reason: "nonce_mismatch", tamper: func(f *fixture, _ *account.OIDC) {
			if _, err := f.db.Pool.Exec(ctx, `update oidc_requests set nonce = 'another-nonce'`); err != nil {
				panic(err)
			}
		}},
		{name: "wrong issuer", user: accounttest.UserSubstantial, issuer: "https://idp.example.org/", reason: "id_token_invalid", detail: "different provider"},
		{name: "expired token", user: accounttest.UserSubstantial, reason: "id_token_expired", tamper: func(_ *fixture, o *account.OIDC) {
			o.TokenNow = func() time.Time { return time.Now().Add(2 * time.Hour) }
		}},
		{name: "state of another session", user: accounttest.UserSubstantial, reason: "invalid_state", tamper: func(f *fixture, _ *account.OIDC) {
			other, _ := f.svc.StartAnonymous(ctx, cli)
			if _, err := f.db.Pool.Exec(ctx, `update oidc_requests set session_hash = sha256($1::bytea)`, []byte(other)); err != nil {
				panic(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, testCfg)
			o := f.oidc(t, tc.issuer)
			sid, state, code := f.flow(t, o, tc.user)
			if tc.tamper != nil {
				tc.tamper(f, o)
			}
			_, _, err := o.Callback(ctx, sid, state, code, cli)
			if !errors.Is(err, account.ErrOIDCFailed) {
				t.Fatalf("accepted: %v", err)
			}
			if tc.detail != "" && !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("error %q lacks %q", err, tc.detail)
			}
			if got := f.auditActions(t); !slices.Contains(got, "login_failed:"+tc.reason) {
				t.Errorf("audit %v lacks login_failed:%s", got, tc.reason)
			}
			if list, _ := f.svc.List(ctx); len(list) != 0 {
				t.Errorf("an account was created: %+v", list)
			}
		})
	}
}

func TestOIDCRefusesUnknownMinimum(t *testing.T) {
	f := setup(t, testCfg)
	_, err := f.svc.NewOIDC(context.Background(), account.OIDCConfig{Issuer: opIssuer, ClientID: opClientID, MinACR: "midden"})
	if err == nil || !strings.Contains(err.Error(), "PGO_OIDC_MIN_ACR") {
		t.Fatalf("unknown minimum accepted: %v", err)
	}
}

// TestOIDCProviderThatHangs: a provider that accepts the connection and never
// answers must not stall pgo serve at start: discovery gives up after the timeout
// with EUNAVAILABLE.
func TestOIDCProviderThatHangs(t *testing.T) {
	f := setup(t, testCfg)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	start := time.Now()
	_, err := f.svc.NewOIDC(context.Background(), account.OIDCConfig{Issuer: hang.URL, ClientID: opClientID,
		MinACR: acrSubstantial, Timeout: 300 * time.Millisecond})
	if pgo.ErrorCode(err) != pgo.EUNAVAILABLE {
		t.Fatalf("err = %v; want EUNAVAILABLE", err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("discovery waited %s; the timeout is not applied", waited)
	}
}
