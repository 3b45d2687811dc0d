// Package pgo holds what every part of the PGO-koppelvlak service shares: the one
// error type with its codes. Packages below cmd return *Error (or wrap one) and the
// server maps its code to an HTTP status in exactly one place.
package pgo

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in server/error.go; keep this list short.
const (
	EINVALID      = "invalid"      // bad input from the caller (400/422)
	ENOTFOUND     = "not_found"    // no such thing, or not visible to the caller (404)
	ECONFLICT     = "conflict"     // state does not allow the action (409)
	EUNAUTHORIZED = "unauthorized" // caller is not authenticated (401)
	EFORBIDDEN    = "forbidden"    // authenticated but not allowed (403)
	ETOOLARGE     = "too_large"    // request or document over a size limit (413)
	ERATELIMIT    = "rate_limited" // too many attempts (429)
	EUNAVAILABLE  = "unavailable"  // a dependency is down or the thing is not ready yet (503)
	EINTERNAL     = "internal"     // a bug or an unexpected failure (500)
)

// Error is the project's error. Message is safe to show to the caller; Err carries
// internal detail that goes to the log only. Reason, when set, is the translation
// key (in package web's translations) of the same message, so that a person reads
// it in their own language: Message is the English text for logs, peers and
// English readers.
type Error struct {
	Code    string
	Message string
	Reason  string
	Err     error
}

func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Message != "":
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	case e.Err != nil:
		return fmt.Sprintf("%s: %v", e.Code, e.Err)
	default:
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a caller-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// NewError returns an *Error whose message has a Dutch and an English text under
// the translation key reason.
func NewError(code, reason, message string) *Error {
	return &Error{Code: code, Reason: reason, Message: message}
}

// Wrap returns an *Error that keeps err for the log and shows msg to the caller.
func Wrap(code string, err error, msg string) *Error {
	return &Error{Code: code, Message: msg, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any
// other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-safe message of err. Internal errors never leak
// their text: they get a generic sentence.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" && e.Code != EINTERNAL {
		return e.Message
	}
	return "An internal error has occurred."
}

// ErrorReason returns the translation key of the first *Error in err's chain that
// has one, "" when none has (or err is internal: its reason is never shown).
func ErrorReason(err error) string {
	if ErrorCode(err) == EINTERNAL {
		return ""
	}
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ""
		}
		if e.Reason != "" {
			return e.Reason
		}
		err = e.Err
	}
	return ""
}
