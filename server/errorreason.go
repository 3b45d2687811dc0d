package server

import (
	"errors"

	"github.com/pgo-koppelvlak/pgo/account"
)

// reasonKeys gives the known caller-safe errors a translation key, so that the
// HTML error page says why in the reader's language: the *pgo.Error messages
// are English, and showing them only to English readers left Dutch readers
// with the status's general text (review finding; WCAG 2.2 SC 3.3.1, 3.3.3).
// Errors not listed get the general text of their code (and English readers
// the English message).
var reasonKeys = []struct {
	err error
	key string
}{
	{errCSRF, "error.reason.csrf"},
	{errRole, "error.reason.role"},
	{account.ErrNoSession, "error.reason.no_session"},
	{account.ErrLoginFailed, "login.failed"},
	{account.ErrOIDCFailed, "login.oidc_failed"},
	{account.ErrTooManyAttempts, "login.rate_limited"},
	{account.ErrBusy, "login.busy"},
	{account.ErrNoPendingEnrolment, "error.reason.no_enrolment"},
	{account.ErrNoAuthenticatorHere, "error.reason.oidc_account"},
}

// reasonKey returns the translation key of err's reason, "" when it has none.
func reasonKey(err error) string {
	for _, r := range reasonKeys {
		if errors.Is(err, r.err) {
			return r.key
		}
	}
	return ""
}
