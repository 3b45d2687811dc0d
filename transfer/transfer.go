// Package transfer is the target role of the PGO-koppelvlak (gegevensdienst 51,
// PGOK-FR022..FR024, FR051, FR052): a patient picks their old PGO from the ZAL,
// gives consent there (OAuth2 authorization-code flow with PKCE, RFC 6749 + 7636),
// and this instance fetches the dossier document over mutual TLS, verifies it,
// stores it sealed in the patient's dossier and tells the patient, live, how far it is.
//
// A transfer is a persisted state machine:
//
//	created -> authorizing -> authorized -> listing -> downloading -> verifying
//	        -> stored -> done
//	(any state before done) -> failed (reason code, whether a retry helps)
//
// Every transition is one compare-and-set in one transaction with its audit record
// (Store). One X-Correlation-ID (a UUID) belongs to a transfer; it travels on every
// request to the source and onto every audit row, so both PGOs' logs can be joined.
package transfer

import (
	"context"
	"time"

	"github.com/pgo-koppelvlak/pgo/audit"
)

// Status is where a transfer is.
type Status string

// The states of a transfer.
const (
	StatusCreated     Status = "created"
	StatusAuthorizing Status = "authorizing"
	StatusAuthorized  Status = "authorized"
	StatusListing     Status = "listing"
	StatusDownloading Status = "downloading"
	StatusVerifying   Status = "verifying"
	StatusStored      Status = "stored"
	StatusDone        Status = "done"
	StatusFailed      Status = "failed"
)

// Final reports whether the transfer will not change any more (a failed transfer
// may still be retried, which moves it back to authorized).
func (s Status) Final() bool { return s == StatusDone || s == StatusFailed }

// Steps lists the states a successful transfer passes, in order (for the progress page).
var Steps = []Status{StatusCreated, StatusAuthorizing, StatusAuthorized, StatusListing,
	StatusDownloading, StatusVerifying, StatusStored, StatusDone}

// Retry says what "Opnieuw proberen" does after a failure.
type Retry string

const (
	// RetryNone: trying again cannot help (the source refused, the document is wrong).
	RetryNone Retry = ""
	// RetrySame: run the fetch again with the token we hold (the source was down).
	RetrySame Retry = "same"
	// RetryConsent: start again with a new consent (the token cannot be used any more).
	RetryConsent Retry = "consent"
)

// Transfer is a transfer as the table holds it: no health data, no secrets in clear.
type Transfer struct {
	ID            string
	UserID        string
	Source        string // Zorgaanbiedernaam, e.g. "noord@medmij"
	SourceDisplay string
	AuthorizeURI  string
	TokenURI      string
	ResourceURI   string // FHIR base of the source (ZAL ResourceEndpointuri)
	Issuer        string // expected iss (RFC 9207): origin of AuthorizeURI
	Status        Status
	DocsDone      int
	DocsTotal     int
	BytesDone     int64
	BytesTotal    int64
	Attempts      int
	Failure       Reason // set when Status is failed
	FailureDetail string // English, caller-safe, names the check that failed
	Retry         Retry
	CorrelationID string
	RequestID     string
	TokenExpires  time.Time
	Created       time.Time
	Updated       time.Time
	Finished      time.Time
}

// Document is a received document with its provenance (no content).
type Document struct {
	ID            string
	TransferID    string
	UserID        string
	RemoteID      string // the source's DocumentReference id
	Source        string
	SourceDisplay string
	Title         string
	ContentType   string
	Size          int64
	SHA1          []byte
	SHA256        []byte
	CorrelationID string
	Received      time.Time
	Binding       Binding // what the sealed content is bound to (ObjectID)
}

// Secrets are the sealed values a transfer keeps between steps.
type Secrets struct {
	StateHash      []byte  // SHA-256 of the OAuth state
	SessionHash    []byte  // SHA-256 of the browser session id the state is bound to
	VerifierSealed []byte  // PKCE code_verifier, sealed
	TokenSealed    []byte  // access token, sealed
	Binding        Binding // what VerifierSealed and TokenSealed are bound to (secretObjectID)
}

// Store is what transfers need from PostgreSQL (transferdb implements it). Each
// method that changes the status is one compare-and-set: it changes the row only
// when its status is one of from, appends ev in the same transaction, and reports
// false (changing nothing) otherwise.
//
// A fetch run (one call of Service.Fetch) owns the transfer: its step into
// listing claims the transfer for a new run id, and every later change it makes
// passes that id and applies only while the transfer is still that run's, so a
// run that a newer one claimed the transfer from (a task recovered while it
// still ran) loses every compare-and-set. An empty run is a change that is no
// fetch run's (GiveUp's, finishing a transfer found stored) and does not check
// it; Authorized clears the run. The audit records of a run's changes name the
// run in their Details (audit.DetailRun), so that two attempts' interleaved
// records can be told apart.
type Store interface {
	// Create inserts a new transfer in status created with its audit record.
	Create(ctx context.Context, t Transfer, ev audit.Event) error
	// Get returns a transfer; ENOTFOUND when there is none.
	Get(ctx context.Context, id string) (Transfer, error)
	// ByState returns the transfer whose state hash is h; ENOTFOUND when none.
	ByState(ctx context.Context, h []byte) (Transfer, Secrets, error)
	// LatestAuthorizing returns the user's newest transfer in authorizing bound to
	// the session hash; ENOTFOUND when none.
	LatestAuthorizing(ctx context.Context, userID string, sessionHash []byte) (Transfer, error)
	// Secrets returns the sealed values of a transfer.
	Secrets(ctx context.Context, id string) (Secrets, error)
	// Authorizing moves created|authorizing to authorizing with a new state and
	// verifier (and the verifier's binding, s.Binding).
	Authorizing(ctx context.Context, id string, s Secrets, ev audit.Event) (bool, error)
	// ClaimVerifier takes the sealed PKCE verifier off an authorizing transfer,
	// as a compare-and-set on the value the caller read with ByState: of two
	// callbacks with the same state (a double click, a browser retry) exactly
	// one gets true and redeems the code; the status does not change.
	ClaimVerifier(ctx context.Context, id string, verifierSealed []byte) (bool, error)
	// Authorized moves authorizing|failed to authorized, stores the sealed token
	// with the binding it was sealed with (when not nil; else both stay) and
	// enqueues the fetch task through the outbox. The state hash stays until
	// Fail or the step to done, so a repeated callback still finds the transfer and shows
	// its progress. It clears the run: the next fetch claims the transfer afresh.
	Authorized(ctx context.Context, id string, from []Status, tokenSealed []byte, binding Binding, expires time.Time, ev audit.Event) (bool, error)
	// Step moves from one of from to to (counting an attempt and claiming the
	// transfer for run when to is listing; otherwise, with run, only while the
	// transfer is run's); the step to done drops the sealed token, verifier and
	// state hash in the same statement.
	Step(ctx context.Context, id, run string, from []Status, to Status, ev audit.Event) (bool, error)
	// Progress records the documents listed and the bytes received while the
	// transfer is downloading and run's (no audit record; otherwise it changes
	// nothing and is no error, so a stale run never overwrites a newer
	// attempt's progress); documents done are left alone.
	Progress(ctx context.Context, id, run string, docsTotal int, bytesDone, bytesTotal int64) error
	// StoreDocuments moves verifying to stored while the transfer is run's,
	// inserting every document sealed (with its Binding) and counting them as
	// the documents done, in one transaction with ev.
	StoreDocuments(ctx context.Context, id, run string, docs []StoredDocument, ev audit.Event) (bool, error)
	// Fail moves a transfer that is not stored, done or failed to failed; with
	// from given, only from one of those; with run, only while it is run's. It
	// drops the state hash and verifier and, with forget, the sealed token, in
	// the same transaction as the status and ev (never in a second statement: a
	// crash between would leave a failed transfer holding its token).
	Fail(ctx context.Context, id, run string, from []Status, reason Reason, detail string, retry Retry, forget bool, ev audit.Event) (bool, error)
	// ListByUser returns a user's transfers, newest first.
	ListByUser(ctx context.Context, userID string, limit int) ([]Transfer, error)
	// Documents returns the documents of a user (all when transferID is empty).
	Documents(ctx context.Context, userID, transferID string) ([]Document, error)
	// Document returns one document of a user with its sealed content.
	Document(ctx context.Context, userID, id string) (Document, []byte, error)
}

// StoredDocument is a verified document ready to be written.
type StoredDocument struct {
	Document
	Sealed []byte
}

// Sealer encrypts at rest, bound to an object id (vault.Vault).
type Sealer interface {
	Seal(objectID string, plaintext []byte) ([]byte, error)
	Open(objectID string, ciphertext []byte) ([]byte, error)
}
