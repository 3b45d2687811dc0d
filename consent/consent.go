// Package consent is the source role's authorization server: the one-time consent
// screen "Toestemming geven", the grants it creates, single-use authorization codes,
// RFC 9068 access tokens bound to the client's certificate (RFC 8705), revocation
// (RFC 7009) and the check the FHIR endpoint makes on every request (CheckAccess).
//
// The protocol mechanics (request parsing, the authorization-code and PKCE
// handlers, revocation, revoking what a replayed code issued) are ory/fosite's;
// this package adds what MedMij asks on top: clients from the OAuth Client List,
// client authentication by the TLS certificate alone, exact redirect URIs per
// client, the scope <our name>~51, the iss parameter (RFC 9207) and the audit
// records. It declares the store it needs (Store, implemented by consentdb) and
// never imports echo or pgx.
package consent

import (
	"context"
	"errors"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/zal"
)

// Gegevensdienst is the one gegevensdienst this authorization server grants:
// 51, "Verzamelen Documenten 3.0 (pdf/a)".
const Gegevensdienst = "51"

// State is where a grant is in its life. A grant is active from "allow" until the
// client revokes it after the transfer (used), the patient withdraws it, a code
// replay revokes it, or it expires (shown as expired; the row stays active).
type State string

// The grant states (consent_grant.state).
const (
	StateActive    State = "active"
	StateUsed      State = "used"
	StateWithdrawn State = "withdrawn"
	StateRefused   State = "refused"
	StateRevoked   State = "revoked" // ended because its code was replayed
	// StateSuperseded: ended unused because the patient decided the same
	// authorization request again (a double submit); the later grant counts.
	StateSuperseded State = "superseded"
	StateExpired    State = "expired" // shown only: active past its end
)

// Grant is one patient's consent (or refusal) for one transfer to one client.
type Grant struct {
	ID            string
	AccountID     string
	ClientID      string
	ClientName    string // OAuthclientOrganisatienaam from the OCL at the time
	Scope         string
	Categories    []dossier.Category
	State         State
	ExportJobID   string
	RequestID     string // MedMij-Request-ID of the authorization request
	CorrelationID string // X-Correlation-ID of the transfer
	// AuthorizeStateHash is the SHA-256 of the authorization request's state:
	// which request the decision answered (written only; see CreateGrant).
	AuthorizeStateHash []byte
	SourceIP           string
	Created            time.Time
	Expires            time.Time
	Ended              time.Time
	// Pages is the page count of the grant's PDF once it is rendered (0 before;
	// filled by Service.Grants, not stored with the grant).
	Pages int
}

// StateAt is the state a person reads: an active grant past its end is expired.
func (g Grant) StateAt(now time.Time) State {
	if g.State == StateActive && !now.Before(g.Expires) {
		return StateExpired
	}
	return g.State
}

// Live reports whether the grant still allows access at now.
func (g Grant) Live(now time.Time) bool { return g.StateAt(now) == StateActive }

// Code is a stored authorization code: only its SHA-256 (Signature).
type Code struct {
	Signature []byte
	RequestID string // fosite's request id: what tokens issued from it share
	GrantID   string
	Request   []byte // the authorization request as JSON (no secrets)
	Expires   time.Time
	Used      time.Time // zero until redeemed
}

// Token is a stored access token: only its SHA-256 (Signature) and facts.
type Token struct {
	Signature  []byte
	ID         string // jti
	RequestID  string
	GrantID    string
	ClientID   string
	Thumbprint string // x5t#S256 of the client certificate it is bound to
	Request    []byte
	Expires    time.Time
	Revoked    time.Time
}

// Redemption is a code with its PKCE challenge and its grant, as one token
// request reads them.
type Redemption struct {
	Code  Code
	PKCE  []byte // the challenge's stored request; nil when the code has none
	Grant Grant
}

// RedeemOutcome is what RedeemCode did.
type RedeemOutcome int

// The outcomes of RedeemCode.
const (
	Redeemed   RedeemOutcome = iota + 1 // code used, token stored
	CodeUsed                            // a concurrent or earlier redemption won: nothing stored
	GrantEnded                          // the grant is no longer active: nothing to commit
)

// Store is what consent needs from PostgreSQL (consentdb implements it). A
// context returned by Begin, or passed to the function of InTx, carries the
// transaction: every method called with it joins that transaction.
type Store interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	Begin(ctx context.Context) (context.Context, error)
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error

	// CreateGrant writes g and, in the same statement, ends as superseded (at
	// g.Created) the account's active grants to the same client for the same
	// authorization request (AuthorizeStateHash) whose code was never redeemed,
	// with their exports: the patient decided the same request again (a double
	// submit), and the browser follows the last decision. It returns their ids.
	CreateGrant(ctx context.Context, g Grant) (superseded []string, err error)
	Grant(ctx context.Context, id string) (Grant, error)
	Grants(ctx context.Context, accountID string) ([]Grant, error)
	// EndGrant moves an active grant to state at t (compare-and-set); false when
	// it was not active.
	EndGrant(ctx context.Context, id string, to State, t time.Time) (bool, error)

	CreateCode(ctx context.Context, c Code) error
	Code(ctx context.Context, signature []byte) (Code, error)
	// UseCode marks an unused code used at t; false when it was used already.
	UseCode(ctx context.Context, signature []byte, t time.Time) (bool, error)
	CreatePKCE(ctx context.Context, signature []byte, request []byte) error
	PKCE(ctx context.Context, signature []byte) ([]byte, error)

	// Redemption reads, in one round trip, what a token request needs of its
	// code: the code, its PKCE challenge (nil when none) and its grant.
	Redemption(ctx context.Context, signature []byte) (Redemption, error)
	// RedeemCode uses the code at t (compare-and-set) and stores tok in one
	// statement, only while tok's grant is active and unexpired at t, and appends
	// evs in the same transaction: the context's, or one of its own that commits
	// only on Redeemed.
	RedeemCode(ctx context.Context, signature []byte, t time.Time, tok Token, evs ...audit.Event) (RedeemOutcome, error)

	CreateToken(ctx context.Context, t Token) error
	Token(ctx context.Context, signature []byte) (Token, error)
	// TokenGrant returns a token by its jti with its grant, in one round trip.
	TokenGrant(ctx context.Context, id string) (Token, Grant, error)
	// RevokeTokens revokes every token of a request at t; it returns how many.
	RevokeTokens(ctx context.Context, requestID string, t time.Time) (int, error)
	RevokeGrantTokens(ctx context.Context, grantID string, t time.Time) (int, error)

	// Audit appends evs (in the context's transaction, or one of their own).
	Audit(ctx context.Context, evs ...audit.Event) error
	// CreateExport writes an export job with its audit record and the outbox row
	// of its render task (exportdb.Store.CreateTx) in the context's transaction.
	CreateExport(ctx context.Context, job export.Job, ev audit.Event) error
}

// Lists are the MedMij lists consent reads (zal.Registry).
type Lists interface {
	Client(host string) (zal.Client, error)
	GegevensdienstName(id string) (string, error)
}

// Dossier counts the patient's dossier and gives the consent screen its preview
// (dossier.Service).
type Dossier interface {
	Counts(ctx context.Context, userID string) (map[dossier.Category]int, error)
	Overview(ctx context.Context, userID string) (dossier.Overview, error)
}

// Exports prepares the export job of a grant and reports on it (export.Jobs).
type Exports interface {
	Prepare(r export.Request) (export.Job, audit.Event, error)
	Job(ctx context.Context, id string) (export.Job, error)
}

// Signer signs access tokens with the instance's key (vault.SigningKey).
type Signer interface {
	KeyID() string
	SignJWT(claims []byte, typ string) (string, error)
	PublicJWKS() jose.JSONWebKeySet
}

// Config is the authorization server's configuration (config.Consent plus the
// issuer).
type Config struct {
	// Issuer is PGO_PUBLIC_URL without a trailing slash, used verbatim in the
	// metadata, tokens and the iss parameter (RFC 9207, RFC 8414 §2).
	Issuer string
	// ProviderName is our ZAL name without "@medmij": the scope is ProviderName~51.
	ProviderName string
	// Redirects are the exact redirect URIs registered per client host.
	Redirects   map[string][]string
	RequirePKCE bool
	CodeTTL     time.Duration // default 60 s, at most 10 min
	TokenTTL    time.Duration // default and at most 15 min
	ConsentTTL  time.Duration // default 15 min
	// MaxItems is the most dossier items one consent may select: what one export
	// document may hold (PGO_EXPORT_MAX_ITEMS, the same number the worker's
	// export.JobsConfig gets; 0: export.DefaultMaxItems).
	MaxItems int
}

// Deps are the parts consent is built from.
type Deps struct {
	Store   Store
	Lists   Lists
	Dossier Dossier
	Exports Exports
	Signer  Signer
	Now     func() time.Time // default time.Now
	// Unauthenticated bounds the audit records of token and revocation
	// requests refused without a verified client certificate, and of
	// authorization requests refused before login (nil: each one is recorded).
	Unauthenticated *audit.Quota
}

// Service is the authorization server.
type Service struct {
	cfg   Config
	d     Deps
	oauth *fosite.Fosite
}

// New checks the configuration and builds the service.
func New(cfg Config, d Deps) (*Service, error) {
	if d.Store == nil || d.Lists == nil || d.Dossier == nil || d.Exports == nil || d.Signer == nil {
		return nil, errors.New("consent: Store, Lists, Dossier, Exports and Signer are required")
	}
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	if cfg.Issuer == "" || cfg.ProviderName == "" {
		return nil, errors.New("consent: the issuer (PGO_PUBLIC_URL) and PGO_PROVIDER_NAME are required")
	}
	def := func(p *time.Duration, v, maxV time.Duration) {
		if *p <= 0 {
			*p = v
		}
		if *p > maxV {
			*p = maxV
		}
	}
	def(&cfg.CodeTTL, time.Minute, 10*time.Minute)
	def(&cfg.TokenTTL, 15*time.Minute, 15*time.Minute)
	def(&cfg.ConsentTTL, 15*time.Minute, 15*time.Minute)
	if cfg.MaxItems <= 0 {
		cfg.MaxItems = export.DefaultMaxItems
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Service{cfg: cfg, d: d}
	s.oauth = s.provider()
	return s, nil
}

// Scope is the one scope we grant: <our name>~51.
func (s *Service) Scope() string { return zal.Scope(s.cfg.ProviderName, Gegevensdienst) }

// Audience is the aud of our access tokens: the FHIR base URL.
func (s *Service) Audience() string { return s.cfg.Issuer + "/" + Gegevensdienst + "/fhir" }

// Issuer is the canonical issuer string.
func (s *Service) Issuer() string { return s.cfg.Issuer }

func (s *Service) now() time.Time { return s.d.Now().UTC() }
