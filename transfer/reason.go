package transfer

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/pgo-koppelvlak/pgo"
)

// Reason is why a transfer failed: a closed list of codes. Each has a Dutch and an
// English sentence for the patient (translation keys transfer.reason.<code> in
// web/translations/transfer.*.json) and says whether trying again can help.
type Reason string

// The failure reasons.
const (
	ReasonAccessDenied   Reason = "access_denied"   // the patient said no at the source
	ReasonAuthorization  Reason = "authorization"   // the source answered with another OAuth error
	ReasonStateMismatch  Reason = "state_mismatch"  // the callback's state is not this session's
	ReasonIssuerMismatch Reason = "issuer_mismatch" // RFC 9207 iss is not the source's issuer
	ReasonTokenRefused   Reason = "token_refused"   // the token endpoint refused the code
	ReasonNotWhitelisted Reason = "not_whitelisted" // an endpoint host is not on the Whitelist
	ReasonUnavailable    Reason = "source_unavailable"
	ReasonRenderTimeout  Reason = "render_timeout"   // 202 + Retry-After for longer than allowed
	ReasonTokenExpired   Reason = "token_expired"    // 401 from the resource server
	ReasonBadBundle      Reason = "bad_bundle"       // the DocumentReference search result is not valid FHIR
	ReasonNoDocuments    Reason = "no_documents"     // no PDF to fetch
	ReasonBadBinary      Reason = "bad_binary"       // the Binary is not valid FHIR
	ReasonHashMismatch   Reason = "hash_mismatch"    // SHA-1 differs from attachment.hash
	ReasonDigestMismatch Reason = "digest_mismatch"  // SHA-256 differs from Content-Digest
	ReasonTruncated      Reason = "truncated"        // fewer bytes than announced
	ReasonTooLong        Reason = "too_long"         // more bytes than announced
	ReasonTooLarge       Reason = "too_large"        // over PGO_MAX_DOCUMENT_BYTES
	ReasonNotPDF         Reason = "not_pdf"          // the bytes are not a PDF
	ReasonHTTP           Reason = "http_error"       // an unexpected status from the source
	ReasonInterrupted    Reason = "interrupted"      // the connection broke and could not be resumed
	ReasonTooSlow        Reason = "too_slow"         // the body did not arrive within PGO_TRANSFER_REQUEST_TIMEOUT
	ReasonCertificate    Reason = "peer_certificate" // the source's TLS certificate was refused
	ReasonInternal       Reason = "internal"         // our own failure
)

// reasonRetry says what a retry does per reason.
var reasonRetry = map[Reason]Retry{
	ReasonAccessDenied: RetryConsent, ReasonAuthorization: RetryConsent, ReasonStateMismatch: RetryConsent,
	ReasonIssuerMismatch: RetryNone, ReasonTokenRefused: RetryConsent, ReasonNotWhitelisted: RetryNone,
	ReasonUnavailable: RetrySame, ReasonRenderTimeout: RetrySame, ReasonTokenExpired: RetryConsent,
	ReasonBadBundle: RetryNone, ReasonNoDocuments: RetryNone, ReasonBadBinary: RetryNone,
	ReasonHashMismatch: RetryNone, ReasonDigestMismatch: RetryNone, ReasonTruncated: RetrySame,
	ReasonTooLong: RetryNone, ReasonTooLarge: RetryNone, ReasonNotPDF: RetryNone,
	ReasonHTTP: RetryNone, ReasonInterrupted: RetrySame, ReasonInternal: RetrySame,
	// A slow network may pass; a certificate the source's operator may fix is
	// not retried by the task, but the patient may try again later.
	ReasonTooSlow: RetrySame, ReasonCertificate: RetrySame,
}

// Reasons lists every reason (tests check each has both translations).
func Reasons() []Reason {
	out := make([]Reason, 0, len(reasonRetry))
	for r := range reasonRetry {
		out = append(out, r)
	}
	return out
}

// RetryFor returns what "Opnieuw proberen" does after a failure for r.
func RetryFor(r Reason) Retry { return reasonRetry[r] }

// Failure is an error that ends a transfer with a reason. Detail is English and
// caller-safe: it names the check, never a token, code or document content.
type Failure struct {
	Reason Reason
	Detail string
	// Transient: a later attempt of the same task may succeed (5xx, reset); the
	// task is retried and the transfer fails only after the last attempt.
	Transient bool
}

func (f *Failure) Error() string { return fmt.Sprintf("transfer %s: %s", f.Reason, f.Detail) }

func fail(r Reason, format string, args ...any) *Failure {
	return &Failure{Reason: r, Detail: clip(fmt.Sprintf(format, args...), maxDetail)}
}

func transient(r Reason, format string, args ...any) *Failure {
	return &Failure{Reason: r, Detail: clip(fmt.Sprintf(format, args...), maxDetail), Transient: true}
}

// maxDetail bounds a failure's detail in characters. The detail is stored
// (failure_detail), shown and logged, and parts of it come from the source: a
// hostile source must not fill a row or the log with its own text (OWASP ASVS
// 5.0 V16, log content under our control). Every detail is built here.
const maxDetail = 200

// maxEcho is the longest source-chosen value a detail repeats (a media type,
// a DNS name, a content coding): longer ones are described by their length.
const maxEcho = 40

// clip cuts s after n characters, on a rune boundary, marking the cut with "…".
func clip(s string, n int) string {
	k := 0
	for i := range s {
		if k == n {
			return s[:i] + "…"
		}
		k++
	}
	return s
}

// echo quotes a value the source chose for a failure detail. A long one is not
// repeated, not even in part: a prefix still carries whatever the source put
// first (a BSN, say), so it is described by its length only.
func echo(v string) string {
	if len(v) > maxEcho {
		return fmt.Sprintf("a value of %d bytes", len(v))
	}
	return strconv.Quote(v)
}

// AsFailure returns the *Failure in err's chain; any other error is an internal one.
func AsFailure(err error) *Failure {
	var f *Failure
	if errors.As(err, &f) {
		return f
	}
	return &Failure{Reason: ReasonInternal, Detail: "internal error", Transient: true}
}

// IsTransient reports whether err may go away on a later attempt.
func IsTransient(err error) bool { return AsFailure(err).Transient }

// Caller-facing errors of the pages.
var (
	ErrNoSource = pgo.NewError(pgo.EINVALID, "transfer.err.no_source", "Choose the PGO to fetch your dossier from.")
	ErrNotYours = pgo.NewError(pgo.ENOTFOUND, "transfer.err.not_found", "This transfer does not exist.")
	ErrNoRetry  = pgo.NewError(pgo.ECONFLICT, "transfer.err.no_retry", "This transfer cannot be tried again.")
)
