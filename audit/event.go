// Package audit is the NEN 7513 audit log: what happened, to whose dossier, by whom,
// from where, with what outcome; chained by SHA-256 so that changes are detectable.
package audit

import "time"

// Action is what happened. The list is closed: add a constant here, never a free string.
type Action string

// Actions (NEN 7513 "gebeurtenis"). Extend as features arrive.
const (
	ActLogin             Action = "login"
	ActLoginFailed       Action = "login_failed"
	ActMFAFailed         Action = "mfa_failed"
	ActLockout           Action = "lockout"
	ActLogout            Action = "logout"
	ActConsentShown      Action = "consent_shown"
	ActConsentGranted    Action = "consent_granted"
	ActConsentDenied     Action = "consent_denied"
	ActCodeIssued        Action = "code_issued"
	ActCodeRedeemed      Action = "code_redeemed"
	ActCodeReplayed      Action = "code_replayed"
	ActTokenIssued       Action = "token_issued"
	ActTokenRevoked      Action = "token_revoked"
	ActDocumentListed    Action = "document_listed" // also a HEAD on Binary: details method=HEAD, read=Binary
	ActDocumentRendered  Action = "document_rendered"
	ActDocumentFetched   Action = "document_fetched"
	ActTransferStarted   Action = "transfer_started"
	ActTransferCompleted Action = "transfer_completed"
	ActTransferFailed    Action = "transfer_failed"
	ActAuditViewed       Action = "audit_viewed"
	ActAuditExported     Action = "audit_exported"
	ActAuditPruned       Action = "audit_pruned"
	ActAccountCreated    Action = "account_created"
	ActAccountLocked     Action = "account_locked"
	ActMFAEnrolled       Action = "mfa_enrolled"
	ActDossierImported   Action = "dossier_imported"
	ActExportRequested   Action = "export_requested"
	ActExportFailed      Action = "export_failed"
	// ActAccountUnlocked: an operator lifted a lock (pgo user unlock).
	ActAccountUnlocked Action = "account_unlocked"
	// ActPasswordChanged: the owner changed their password on the account page
	// (success), or the change was refused (failure, with the reason).
	ActPasswordChanged Action = "password_changed"
)

// consent (issue 10): the authorization server's refusals and the end of a grant.
const (
	ActAuthorizeRefused Action = "authorize_refused"  // an authorization request refused (bad client, redirect_uri, scope, ...)
	ActConsentWithdrawn Action = "consent_withdrawn"  // the patient withdrew a grant
	ActClientAuthFailed Action = "client_auth_failed" // a peer failed client authentication (certificate, secret sent)
	ActTokenRefused     Action = "token_refused"      // a token or revocation request refused (bad code, PKCE, ...)
	ActAccessRefused    Action = "access_refused"     // an access token refused by the resource server
)

// FHIR endpoint (issue 11): a request the FHIR endpoint of gegevensdienst 51
// refuses itself (no token; a document outside the grant or of another patient;
// a bad, expired, revoked or wrongly bound token is the authorization server's
// one access_refused record), and the deletion of a rendered export after
// PGO_EXPORT_GRACE.
const (
	ActFHIRRefused   Action = "fhir_refused"
	ActExportDeleted Action = "export_deleted"
)

// Outcome of the action.
type Outcome string

const (
	Success Outcome = "success"
	Failure Outcome = "failure"
)

// ActorType says who acted.
type ActorType string

const (
	ActorUser    ActorType = "user"    // a patient, by internal user id
	ActorPeer    ActorType = "peer"    // a peer PGO, by its client id / MedMij name
	ActorAuditor ActorType = "auditor" // an auditor, by internal user id
	ActorSystem  ActorType = "system"  // this instance (worker, CLI)
)

// Role this instance played.
type Role string

const (
	RoleSource Role = "source"
	RoleTarget Role = "target"
	RoleNone   Role = ""
)

// Event is one audit record as a caller describes it. The store adds ID, sequence
// and hashes. Never put a BSN, token, code, password or TOTP value in any field.
type Event struct {
	Time          time.Time // UTC, microseconds; zero means "now"
	Action        Action
	Outcome       Outcome
	Reason        string // failure reason code, e.g. "invalid_grant"; empty on success
	PersonID      string // internal user id of the person whose data it concerns
	ActorType     ActorType
	ActorID       string // user id, peer client id (host name), or "system"
	Role          Role
	ObjectType    string            // "consent", "document", "export", "transfer", ...
	ObjectID      string            // its id
	ObjectHashes  map[string]string // e.g. {"sha256": "..."} of documents
	SourceIP      string
	UserAgent     string
	RequestID     string            // X-Request-Id / MedMij-Request-ID
	CorrelationID string            // X-Correlation-ID
	Details       map[string]string // small, non-sensitive extra facts
}

// actions is the closed list; Validate rejects anything else.
var actions = map[Action]bool{}

func init() {
	for _, a := range AllActions() {
		actions[a] = true
	}
}

// AllActions lists every Action in a stable order (for filters in the auditor view).
// A new action also needs its AuditEvent classification in fhir.go (mappings);
// TestEveryActionMapsToFHIR checks that.
func AllActions() []Action {
	return []Action{
		ActLogin, ActLoginFailed, ActMFAFailed, ActLockout, ActLogout,
		ActConsentShown, ActConsentGranted, ActConsentDenied,
		ActCodeIssued, ActCodeRedeemed, ActCodeReplayed, ActTokenIssued, ActTokenRevoked,
		ActDocumentListed, ActDocumentRendered, ActDocumentFetched,
		ActTransferStarted, ActTransferCompleted, ActTransferFailed,
		ActAuditViewed, ActAuditExported, ActAuditPruned,
		ActAccountCreated, ActAccountLocked, ActMFAEnrolled, ActDossierImported, ActExportRequested, ActExportFailed,
		ActAuthorizeRefused, ActConsentWithdrawn, ActClientAuthFailed, ActTokenRefused, ActAccessRefused,
		ActAccountUnlocked,
		ActFHIRRefused, ActExportDeleted,
		ActPasswordChanged,
	}
}

// Valid reports whether a is on the closed list.
func (a Action) Valid() bool { return actions[a] }
