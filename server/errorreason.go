package server

import "github.com/pgo-koppelvlak/pgo"

// reasonKey returns the translation key of err's reason ("" when it has none), so
// that the HTML error page says why in the reader's language: *pgo.Error messages
// are English, and showing them only to English readers left Dutch readers with
// the status's general text (WCAG 2.2 SC 3.3.1, 3.3.3). The key travels on the
// error itself (pgo.NewError), so a new error needs no row in a table here.
// Errors without one get the general text of their code (and English readers the
// English message).
func reasonKey(err error) string { return pgo.ErrorReason(err) }
