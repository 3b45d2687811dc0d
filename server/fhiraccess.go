package server

import (
	"context"
	"time"
)

// FHIRAccess is what a verified access token allows on the FHIR endpoint of
// gegevensdienst 51 (the transfer contract in COMMON.md): whose dossier
// (AccountID, never a BSN), which peer (ClientID, bound to the client certificate
// by the token's cnf claim, RFC 8705 §3), which export job (ExportJobID, the
// DocumentReference and Binary id) and until when (ExpiresAt, the token's exp).
type FHIRAccess struct {
	TokenID, GrantID, AccountID, ClientID, Scope, CorrelationID, ExportJobID string
	ExpiresAt                                                                time.Time
}

// AccessChecker verifies bearer tokens for the FHIR endpoint. The consent package
// implements it (cmd/pgo adapts consent.Access field by field).
type AccessChecker interface {
	// CheckAccess verifies the bearer token (signature, iss, aud, exp, cnf equal to
	// thumbprint) and that its grant is still live in PostgreSQL. Refusals are
	// *pgo.Error with code EUNAUTHORIZED, and the checker has audited each one
	// with its precise reason (consent: access_refused, with the client IP that
	// consent.WithIP puts in ctx); the endpoint does not audit them again.
	CheckAccess(ctx context.Context, bearer, thumbprint string) (FHIRAccess, error)
}
