package transfer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
	"github.com/pgo-koppelvlak/pgo/zal"
)

// The OAuth2 client of the target role (MedMij afsprakenstelsel, token interface;
// RFC 6749 §4.1 authorization-code grant, RFC 7636 PKCE S256, RFC 9207 iss, RFC 9700
// security BCP). No client secret: the client authenticates with its certificate
// over mutual TLS when it redeems the code (RFC 8705 §2).

// oauthConfig is the x/oauth2 configuration for a transfer's source.
func (s *Service) oauthConfig(t Transfer) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    s.clientID,
		RedirectURL: s.redirect,
		Scopes:      []string{zal.Scope(t.Source, zal.Gegevensdienst51)},
		Endpoint: oauth2.Endpoint{AuthURL: t.AuthorizeURI, TokenURL: t.TokenURI,
			AuthStyle: oauth2.AuthStyleInParams},
	}
}

// AuthorizeURL moves the user's transfer to authorizing with a fresh state (bound
// to the browser session by its hash) and PKCE verifier, and returns the
// authorization request URL at the source. Asking again (the user came back
// before finishing) replaces state and verifier, so only the newest link works.
func (s *Service) AuthorizeURL(ctx context.Context, a Actor, id string) (string, error) {
	t, err := s.Get(ctx, a.UserID, id)
	if err != nil {
		return "", err
	}
	if t.Status != StatusCreated && t.Status != StatusAuthorizing {
		return "", pgo.NewError(pgo.ECONFLICT, "transfer.err.started", "This transfer is already past the consent step.")
	}
	state, verifier := randomToken(), oauth2.GenerateVerifier()
	sealed, err := s.c.Sealer.Seal(secretObjectID(BindingAccount, t.UserID, t.ID, "verifier"), []byte(verifier))
	if err != nil {
		return "", pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	sec := Secrets{StateHash: hash(state), SessionHash: hash(a.SessionID), VerifierSealed: sealed, Binding: BindingAccount}
	ev := s.event(t, audit.ActTransferStarted, StatusAuthorizing)
	s.byUser(&ev, a)
	ok, err := s.c.Store.Authorizing(ctx, t.ID, sec, ev)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", pgo.NewError(pgo.ECONFLICT, "transfer.err.started", "This transfer is already past the consent step.")
	}
	return s.oauthConfig(t).AuthCodeURL(state,
		oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("MedMij-Request-ID", reqctx.NewID()),
		oauth2.SetAuthURLParam("X-Correlation-ID", t.CorrelationID)), nil
}

// Callback is what the source sent back to the redirect_uri.
type Callback struct {
	State, Code, Iss string
	Error            string // RFC 6749 §4.1.2.1 error code
	HasIss           bool   // iss was present (RFC 9207 §2.4: check it when present)
}

// ErrUnknownState refuses a callback that belongs to no transfer of this session.
var ErrUnknownState = pgo.NewError(pgo.EINVALID, "transfer.err.state", "This answer from the other PGO does not belong to a transfer you started here.")

// HandleCallback checks the answer of the source and, when it carries a code,
// redeems it over mutual TLS and stores the token sealed together with the state
// change and the fetch task. It returns the transfer (failed when a check failed),
// or ErrUnknownState when the state belongs to no transfer of this session (then
// the session's newest waiting transfer, if any, fails with state_mismatch).
// Only one callback per state acts on the answer (ClaimVerifier); a repeated one
// (a double click, a browser retry) returns the transfer as it is.
func (s *Service) HandleCallback(ctx context.Context, a Actor, cb Callback) (Transfer, error) {
	t, sec, err := s.c.Store.ByState(ctx, hash(cb.State))
	if err == nil && (t.UserID != a.UserID || !equal(sec.SessionHash, hash(a.SessionID))) {
		err = ErrUnknownState // a state of another session: never touch that transfer
	}
	if err != nil {
		if pgo.ErrorCode(err) != pgo.ENOTFOUND && !errors.Is(err, ErrUnknownState) {
			return Transfer{}, err
		}
		if w, lerr := s.c.Store.LatestAuthorizing(ctx, a.UserID, hash(a.SessionID)); lerr == nil {
			return s.failNow(ctx, w, fail(ReasonStateMismatch, "the state in the answer does not match the one we sent"))
		}
		return Transfer{}, ErrUnknownState
	}
	if t.Status != StatusAuthorizing {
		return t, nil // a reload of the callback: the transfer is already on its way
	}
	// Claim the answer before acting on it: a code is single-use, so a second
	// callback with the same state that redeemed it too would get invalid_grant
	// and fail the transfer the first one authorized. The loser leaves the
	// transfer alone and shows its progress.
	claimed, err := s.c.Store.ClaimVerifier(ctx, t.ID, sec.VerifierSealed)
	if err != nil {
		return Transfer{}, err
	}
	if !claimed {
		return s.c.Store.Get(ctx, t.ID)
	}
	ctx = reqctx.WithIDs(ctx, reqctx.IDs{Request: a.RequestID, Correlation: t.CorrelationID})
	switch {
	case cb.HasIss && cb.Iss != t.Issuer:
		return s.failNow(ctx, t, fail(ReasonIssuerMismatch, "iss in the answer is not the issuer of %s (RFC 9207)", t.Source))
	case !cb.HasIss && s.issRequired(ctx, t):
		return s.failNow(ctx, t, fail(ReasonIssuerMismatch, "%s announces iss in its answers (RFC 9207 §3), but this one has none", t.Source))
	case cb.Error == "access_denied":
		return s.failNow(ctx, t, fail(ReasonAccessDenied, "the patient did not give consent at the source"))
	case cb.Error != "" || cb.Code == "":
		return s.failNow(ctx, t, fail(ReasonAuthorization, "the source answered with error %q", safeCode(cb.Error)))
	}
	tok, f := s.redeem(ctx, t, sec, cb.Code)
	if f != nil {
		return s.failNow(ctx, t, f)
	}
	sealed, err := s.c.Sealer.Seal(secretObjectID(BindingAccount, t.UserID, t.ID, "token"), []byte(tok.AccessToken))
	if err != nil {
		return Transfer{}, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	ev := s.event(t, audit.ActCodeRedeemed, StatusAuthorized)
	s.byUser(&ev, a)
	ok, err := s.c.Store.Authorized(ctx, t.ID, []Status{StatusAuthorizing}, sealed, BindingAccount, tok.Expiry, ev)
	if err != nil {
		return Transfer{}, err
	}
	if !ok {
		// The transfer moved on while the code was redeemed (it failed): the
		// token was not stored and nothing will use it, so revoke it now rather
		// than leave it live until it expires.
		if err := s.revoke(ctx, t, tok.AccessToken); err != nil {
			s.c.Logger.WarnContext(ctx, "transfer: revoking an unused token failed", "transfer", t.ID, "err", err)
		}
	}
	return s.c.Store.Get(ctx, t.ID)
}

// issRequired reports whether the source's metadata says that it sends iss (RFC
// 9207 §2.4: a client must then refuse an answer without it).
func (s *Service) issRequired(ctx context.Context, t Transfer) bool {
	ctx, cancel := context.WithTimeout(ctx, s.c.RequestTimeout)
	defer cancel()
	md, ok := s.serverMetadata(ctx, t)
	return ok && md.IssSupported
}

// redeem exchanges the code at the source's token endpoint with the PKCE verifier,
// over the Whitelist-only mutual-TLS client. The verifier opens only for the
// account it was sealed for (sec.Binding): t and sec come from one row read
// (ByState), so a transfer moved to another account by SQL fails here, before
// the code is redeemed.
func (s *Service) redeem(ctx context.Context, t Transfer, sec Secrets, code string) (*oauth2.Token, *Failure) {
	verifier, err := s.c.Sealer.Open(secretObjectID(sec.Binding, t.UserID, t.ID, "verifier"), sec.VerifierSealed)
	if err != nil {
		return nil, fail(ReasonInternal, "the PKCE verifier did not open")
	}
	ctx, cancel := context.WithTimeout(ctx, s.c.RequestTimeout)
	defer cancel()
	ctx = context.WithValue(ctx, oauth2.HTTPClient, s.c.HTTP)
	tok, err := s.oauthConfig(t).Exchange(ctx, code, oauth2.VerifierOption(string(verifier)))
	if err != nil {
		var re *oauth2.RetrieveError
		var pe *pgo.Error
		switch {
		case errors.Is(err, zal.ErrRedirect) && errors.As(err, &pe):
			// Not followed: a 307/308 would re-send the code and the verifier.
			return nil, fail(ReasonHTTP, "the token endpoint: %s", pe.Message)
		case errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 500:
			return nil, fail(ReasonUnavailable, "the token endpoint answered %d", re.Response.StatusCode)
		case errors.As(err, &re):
			return nil, fail(ReasonTokenRefused, "the token endpoint refused the code (%s)", safeCode(re.ErrorCode))
		case pgo.ErrorCode(err) == pgo.EFORBIDDEN:
			return nil, fail(ReasonNotWhitelisted, "the token endpoint's host is not on the MedMij Whitelist")
		}
		if f := certificateFailure(err); f != nil {
			return nil, f
		}
		return nil, fail(ReasonUnavailable, "the token endpoint did not answer")
	}
	if tok.AccessToken == "" || !tok.Valid() || !equalFold(tok.TokenType, "bearer") {
		return nil, fail(ReasonTokenRefused, "the token response has no usable bearer token")
	}
	if tok.Expiry.IsZero() {
		tok.Expiry = s.c.Now().Add(15 * time.Minute)
	}
	return tok, nil
}

// Retry starts again after a failure: with the same token when the failure was
// passing and the token still lives (the fetch task is enqueued again), otherwise
// with a new transfer that asks for a new consent. It returns the transfer to show.
// A repeated Retry (a double POST) starts nothing more: it returns the transfer
// the first one started or moved on.
func (s *Service) Retry(ctx context.Context, a Actor, id string) (Transfer, error) {
	t, err := s.Get(ctx, a.UserID, id)
	if err != nil {
		return Transfer{}, err
	}
	if !t.Status.Final() {
		return t, nil // on its way (again: a repeated Retry came after the first): show it
	}
	if t.Status != StatusFailed {
		return Transfer{}, ErrNoRetry
	}
	if t.Retry == RetrySame && t.TokenExpires.After(s.c.Now().Add(time.Minute)) {
		ev := s.event(t, audit.ActTransferStarted, StatusAuthorized)
		s.byUser(&ev, a)
		ev.Details["retry"] = "same"
		if _, err := s.c.Store.Authorized(ctx, t.ID, []Status{StatusFailed}, nil, "", time.Time{}, ev); err != nil {
			return Transfer{}, err
		}
		// Won, or lost to a concurrent Retry that moved it from failed first:
		// either way it runs again with its token; start no new transfer.
		return s.c.Store.Get(ctx, t.ID)
	}
	if t.Retry == RetryNone {
		return Transfer{}, ErrNoRetry
	}
	// The new transfer's id is derived from the failed one's, so the primary
	// key is the compare-and-set: of two Retries only one inserts it, and the
	// other (or any later one) gets a conflict and shows that transfer.
	next := retryID(t.ID)
	n, err := s.start(ctx, a, t.Source, next)
	if pgo.ErrorCode(err) == pgo.ECONFLICT {
		if first, gerr := s.Get(ctx, a.UserID, next); gerr == nil {
			return first, nil
		}
	}
	return n, err
}

// retryID is the id of the one transfer that retries transfer id with a new
// consent: a name-based UUID (RFC 9562 §5.5) in the namespace of id.
func retryID(id string) string {
	return uuid.NewSHA1(uuid.MustParse(id), []byte("retry")).String()
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func equal(a, b []byte) bool { return len(a) == len(b) && subtle.ConstantTimeCompare(a, b) == 1 }

func equalFold(a, b string) bool { return http.CanonicalHeaderKey(a) == http.CanonicalHeaderKey(b) }

// safeCode keeps an OAuth error code for a message only when it has the RFC 6749
// §5.2 shape (%x20-21 / %x23-5B / %x5D-7E); anything else is not repeated.
func safeCode(c string) string {
	if c == "" || len(c) > 64 {
		return "unknown"
	}
	for _, r := range c {
		if !(r >= 'a' && r <= 'z' || r == '_') {
			return "unknown"
		}
	}
	return c
}
