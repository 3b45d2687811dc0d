package consent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ory/fosite"

	"github.com/pgo-koppelvlak/pgo"
)

// OAuthError is an OAuth 2.0 error response. It knows how it must be answered
// (server.Responder): back to a verified redirect_uri with error, error_description,
// state and iss (RFC 6749 §4.1.2.1, RFC 9207 §2); as JSON from the token and
// revocation endpoints (RFC 6749 §5.2); or, when the client or its redirect_uri
// could not be verified, not at all, so the server's error page explains it and
// nothing is redirected to an unverified address (RFC 9700 §4.1.1, §4.11).
type OAuthError struct {
	Code        string // RFC 6749 error code, e.g. invalid_scope
	Description string // English, for the client's developers; never a secret
	State       string
	Issuer      string
	// Redirect, when set, is the verified redirect_uri to send the error to.
	Redirect *url.URL
	// JSON answers as the token or revocation endpoint does.
	JSON bool
	// Reason is the audit reason code.
	Reason string
	// Err is the *pgo.Error the error page shows (with its reason key).
	Err error
}

func (e *OAuthError) Error() string {
	if e.Description != "" {
		return "oauth " + e.Code + ": " + e.Description
	}
	return "oauth " + e.Code
}

// Unwrap gives the error page its message.
func (e *OAuthError) Unwrap() error { return e.Err }

// Respond writes the redirect or the JSON error; false leaves the page to the
// server's error handler.
func (e *OAuthError) Respond(w http.ResponseWriter, _ *http.Request) bool {
	switch {
	case e.Redirect != nil:
		u := *e.Redirect
		q := u.Query()
		q.Set("error", e.Code)
		if e.Description != "" {
			q.Set("error_description", e.Description)
		}
		if e.State != "" {
			q.Set("state", e.State)
		}
		q.Set("iss", e.Issuer)
		u.RawQuery = q.Encode()
		w.Header().Set("Location", u.String())
		w.WriteHeader(http.StatusSeeOther)
		return true
	case e.JSON:
		status := http.StatusBadRequest
		if e.Code == "invalid_client" {
			status = http.StatusUnauthorized
			w.Header().Set("WWW-Authenticate", `TLS realm="token"`)
		}
		switch e.Code {
		case "server_error":
			status = http.StatusInternalServerError
		case "temporarily_unavailable":
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "30")
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		b, _ := json.Marshal(map[string]string{"error": e.Code, "error_description": e.Description})
		_, _ = w.Write(b)
		return true
	}
	return false
}

// standard are the error codes of RFC 6749 §4.1.2.1 and §5.2 plus RFC 7009 §2.2.1;
// fosite's own names (invalid_state, request_forbidden, ...) map to
// invalid_request so a client sees only registered codes.
var standard = map[string]bool{
	"invalid_request": true, "unauthorized_client": true, "access_denied": true,
	"unsupported_response_type": true, "invalid_scope": true, "server_error": true,
	"temporarily_unavailable": true, "invalid_client": true, "invalid_grant": true,
	"unsupported_grant_type": true, "unsupported_token_type": true,
}

// fromFosite turns a fosite error into ours: the code and fosite's hint (never
// its debug text). Errors that are not fosite's are server errors.
func fromFosite(err error) *OAuthError {
	var fe *fosite.RFC6749Error
	if !errors.As(err, &fe) {
		return &OAuthError{Code: "server_error", Description: "The request could not be processed.", Reason: "server_error",
			Err: pgo.Wrap(pgo.EINTERNAL, err, "")}
	}
	code := fe.ErrorField
	if !standard[code] {
		code = "invalid_request"
	}
	desc := fe.GetDescription()
	if code == "server_error" {
		// The debug text and cause go to the log only (never to the peer).
		cause := fe.Cause()
		if cause == nil {
			cause = errors.New("no cause")
		}
		return &OAuthError{Code: code, Description: "The request could not be processed.", Reason: code,
			Err: pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("fosite: %s: %w", fe.Debug(), cause), "")}
	}
	return &OAuthError{Code: code, Description: desc, Reason: code, Err: err}
}
