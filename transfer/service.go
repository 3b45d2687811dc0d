package transfer

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
	"github.com/pgo-koppelvlak/pgo/zal"
)

// Lists is what transfers read from the MedMij lists (*zal.Registry).
type Lists interface {
	Sources(gegevensdienst string) ([]zal.Source, error)
	Search(gegevensdienst, query string) ([]zal.Source, error)
	Source(provider, gegevensdienst string) (zal.Source, error)
	GegevensdienstName(id string) (string, error)
	Client(host string) (zal.Client, error)
	Whitelisted(host string) bool
}

// StreamSealer seals documents as streams (vault.Vault), so a received document is
// decrypted segment by segment while it is sent to the browser.
type StreamSealer interface {
	Sealer
	SealWriter(w io.Writer, objectID string) (io.WriteCloser, error)
	OpenReader(r io.Reader, objectID string) (io.Reader, error)
}

// Config configures a Service.
type Config struct {
	Store  Store
	Sealer StreamSealer
	Lists  Lists
	// Issuer is this instance's PGO_PUBLIC_URL without a trailing slash: the
	// redirect_uri is exactly Issuer + "/oauth/callback".
	Issuer string
	// HTTP is the outbound client towards sources: Whitelist-only, TLS 1.2+, our
	// client certificate (zal.NewHTTPClient). Requests get MedMij-Request-ID and
	// X-Correlation-ID from reqctx.Transport, which the Service adds.
	HTTP *http.Client
	// MaxDocumentBytes is PGO_MAX_DOCUMENT_BYTES: the largest PDF accepted.
	MaxDocumentBytes int64
	// RequestTimeout bounds one request to the source, body included;
	// HeaderTimeout bounds the wait for its response headers, and each silence
	// within its body (a silent body is resumed with Range).
	RequestTimeout, HeaderTimeout time.Duration
	// PollCap caps one Retry-After wait; PollTotal bounds all waits for one Binary.
	PollCap, PollTotal time.Duration
	// Backoff are the waits between attempts of a request that may succeed later
	// (reset, 5xx, 503); its length is the number of retries.
	Backoff []time.Duration
	// Resumes is how often a broken download is resumed with Range.
	Resumes int
	Logger  *slog.Logger
	Now     func() time.Time
}

// Service runs transfers.
type Service struct {
	c        Config
	clientID string
	redirect string
}

// CallbackPath is the redirect_uri path (the contract: ISSUER/oauth/callback).
const CallbackPath = "/oauth/callback"

// New returns the Service; the client_id is the host name of c.Issuer (MedMij: the
// client PGO's host name as on the OAuth Client List, without a port).
func New(c Config) (*Service, error) {
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return nil, pgo.Errorf(pgo.EINVALID, "transfer: issuer %q is not an https URL", c.Issuer)
	}
	if c.MaxDocumentBytes <= 0 {
		c.MaxDocumentBytes = 64 << 20
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 2 * time.Minute
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = 30 * time.Second
	}
	if c.PollCap <= 0 {
		c.PollCap = 30 * time.Second
	}
	if c.PollTotal <= 0 {
		c.PollTotal = 10 * time.Minute
	}
	if c.Backoff == nil {
		c.Backoff = []time.Duration{time.Second, 4 * time.Second, 15 * time.Second}
	}
	if c.Resumes == 0 {
		c.Resumes = 3
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HTTP != nil {
		hc := *c.HTTP
		hc.Transport = reqctx.Transport{Base: hc.Transport}
		c.HTTP = &hc
	}
	issuer := strings.TrimSuffix(c.Issuer, "/")
	return &Service{c: c, clientID: strings.ToLower(u.Hostname()), redirect: issuer + CallbackPath}, nil
}

// ClientID is the OAuth client_id this instance presents.
func (s *Service) ClientID() string { return s.clientID }

// RedirectURI is the exact redirect_uri.
func (s *Service) RedirectURI() string { return s.redirect }

// SourceChoice is one source on the choice page.
type SourceChoice struct {
	Name    string // Zorgaanbiedernaam
	Display string
}

// Sources lists the qualified sources for gegevensdienst 51 (Aanbiedertype APD on
// the ZAL), filtered by query, and the GNL name of the gegevensdienst (PGOK-FR023).
func (s *Service) Sources(query string) ([]SourceChoice, string, error) {
	list, err := s.c.Lists.Search(zal.Gegevensdienst51, query)
	if err != nil {
		return nil, "", err
	}
	name, err := s.c.Lists.GegevensdienstName(zal.Gegevensdienst51)
	if err != nil {
		name = zal.Name51
	}
	out := make([]SourceChoice, 0, len(list))
	for _, src := range list {
		if s.own(src) {
			continue
		}
		out = append(out, SourceChoice{Name: src.Name, Display: s.display(src)})
	}
	return out, name, nil
}

// display is the name a patient knows a source by: its organisation name on the
// OAuth Client List (every PGO is a client too, under the host of its endpoints),
// else the ZAL name without "@medmij".
func (s *Service) display(src zal.Source) string {
	if u, err := url.Parse(src.Token); err == nil {
		if c, err := s.c.Lists.Client(strings.ToLower(u.Hostname())); err == nil && c.Organisation != "" {
			return c.Organisation
		}
	}
	return src.Display
}

// own reports whether src is this instance itself: a PGO that offers gegevensdienst
// 51 is on the ZAL too, but a patient cannot move a dossier from the PGO they are
// in into that same PGO, so it is not offered (its authorization endpoint has
// our own origin).
func (s *Service) own(src zal.Source) bool {
	return strings.EqualFold(origin(src.Authorization), origin(s.c.Issuer))
}

// Actor is who asks, for the audit log.
type Actor struct {
	UserID    string
	SessionID string // the browser session the OAuth state is bound to
	IP        string
	UserAgent string
	RequestID string
}

// Start creates a transfer from the source named provider with a fresh correlation
// id. A source whose back-channel endpoints are not on the Whitelist fails at once
// (not_whitelisted): we would never connect to it.
func (s *Service) Start(ctx context.Context, a Actor, provider string) (Transfer, error) {
	return s.start(ctx, a, provider, uuid.NewString())
}

// start is Start with the new transfer's id given (Retry derives it); a transfer
// with that id existing already is an ECONFLICT error.
func (s *Service) start(ctx context.Context, a Actor, provider, id string) (Transfer, error) {
	if _, err := uuid.Parse(a.UserID); err != nil {
		return Transfer{}, pgo.Errorf(pgo.EINVALID, "user id must be a UUID")
	}
	if provider == "" {
		return Transfer{}, ErrNoSource
	}
	src, err := s.c.Lists.Source(provider, zal.Gegevensdienst51)
	if err == nil && s.own(src) {
		return Transfer{}, ErrNoSource
	}
	if err != nil {
		if pgo.ErrorCode(err) == pgo.ENOTFOUND {
			return Transfer{}, ErrNoSource
		}
		return Transfer{}, err
	}
	t := Transfer{
		ID: id, UserID: a.UserID, Source: src.Name, SourceDisplay: s.display(src),
		AuthorizeURI: src.Authorization, TokenURI: src.Token, ResourceURI: strings.TrimSuffix(src.Resource(), "/"),
		Issuer: origin(src.Authorization), Status: StatusCreated, CorrelationID: reqctx.NewID(),
		RequestID: a.RequestID, Created: s.c.Now().UTC(),
	}
	ev := s.event(t, audit.ActTransferStarted, StatusCreated)
	s.byUser(&ev, a)
	ev.Details["source"] = t.Source
	if err := s.c.Store.Create(ctx, t, ev); err != nil {
		return Transfer{}, err
	}
	for _, raw := range []string{t.TokenURI, t.ResourceURI} {
		if u, err := url.Parse(raw); err != nil || !s.c.Lists.Whitelisted(u.Hostname()) {
			return s.failNow(ctx, t, fail(ReasonNotWhitelisted, "the host of %s is not on the MedMij Whitelist", raw))
		}
	}
	return t, nil
}

// Get returns a transfer of the user; ErrNotYours for anyone else's.
func (s *Service) Get(ctx context.Context, userID, id string) (Transfer, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Transfer{}, ErrNotYours
	}
	t, err := s.c.Store.Get(ctx, id)
	if pgo.ErrorCode(err) == pgo.ENOTFOUND || (err == nil && t.UserID != userID) {
		return Transfer{}, ErrNotYours
	}
	return t, err
}

// List returns the user's recent transfers.
func (s *Service) List(ctx context.Context, userID string) ([]Transfer, error) {
	return s.c.Store.ListByUser(ctx, userID, 20)
}

// origin is scheme://host[:port] of an absolute URL (RFC 6454), the iss a source
// must send (RFC 9207 §2.4: the issuer identifier of its authorization server).
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// event is the skeleton of a transfer's audit record: the target role, the
// transfer as object, its correlation id.
func (s *Service) event(t Transfer, a audit.Action, step Status) audit.Event {
	return audit.Event{
		Time: s.c.Now().UTC(), Action: a, Outcome: audit.Success, PersonID: t.UserID,
		ActorType: audit.ActorSystem, ActorID: "worker", Role: audit.RoleTarget,
		ObjectType: "transfer", ObjectID: t.ID, RequestID: t.RequestID, CorrelationID: t.CorrelationID,
		Details: map[string]string{"step": string(step), "source": t.Source},
	}
}

func (s *Service) byUser(ev *audit.Event, a Actor) {
	ev.ActorType, ev.ActorID, ev.SourceIP, ev.UserAgent = audit.ActorUser, a.UserID, a.IP, a.UserAgent
	if a.RequestID != "" {
		ev.RequestID = a.RequestID
	}
}

// failNow fails t with f, only from the status it was read in, and returns it
// as it now is: failed, or where another request moved it first (its Fail was
// then lost and changed nothing; e.g. a callback with a wrong state racing the
// good one that has just authorized the transfer).
func (s *Service) failNow(ctx context.Context, t Transfer, f *Failure) (Transfer, error) {
	if _, err := s.markFailed(ctx, t, "", []Status{t.Status}, f); err != nil {
		return Transfer{}, err
	}
	return s.c.Store.Get(ctx, t.ID)
}

// markFailed records a failure with its audit record and drops the sealed
// secrets (the token too unless a retry of the same fetch will use it), all in
// one statement; from (nil: any unfinished status) is what it may fail from,
// and a fetch run (run not empty) fails it only while it is that run's, with
// a record that names the run (runEvent). When the Fail transition is lost
// (the transfer was stored, done or failed already, or a newer run claimed it)
// it changes nothing and reports false: the token then belongs to whatever
// moved the transfer on, and forgetting it would break that.
func (s *Service) markFailed(ctx context.Context, t Transfer, run string, from []Status, f *Failure) (bool, error) {
	ev := s.runEvent(t, run, audit.ActTransferFailed, StatusFailed)
	ev.Outcome, ev.Reason = audit.Failure, string(f.Reason)
	ev.Details["failed_in"] = string(t.Status)
	retry := RetryFor(f.Reason)
	// A retry of the same fetch uses the token; any other outcome forgets it,
	// in the statement that fails the transfer.
	return s.c.Store.Fail(ctx, t.ID, run, from, f.Reason, f.Detail, retry, retry != RetrySame, ev)
}
