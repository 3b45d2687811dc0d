package web

// PasswordView is the page on which a logged-in owner changes their password
// (server/password.go). Errors maps a field (current_password, new_password,
// repeat_password; "" for the form as a whole) to a translation key.
type PasswordView struct {
	Page
	CSRF   string
	Errors map[string]string
	// Done: the password was changed just now (the confirmation is shown).
	Done bool
	// NoPassword: the account logs in through an identity provider and has
	// no password here.
	NoPassword bool
}

// passwordFields are the form's inputs, in form order.
var passwordFields = []string{"current_password", "new_password", "repeat_password"}

// Error is the translated message of field, "" when it has none.
func (v PasswordView) Error(field string) string {
	if k, ok := v.Errors[field]; ok {
		return v.T(k)
	}
	return ""
}

// Summary lists the form's errors in form order, each linking to its field;
// one about the form as a whole comes last, unlinked.
func (v PasswordView) Summary() ErrorSummary {
	items := errorList(v.Page, v.Errors, passwordFields...)
	if k, ok := v.Errors[""]; ok {
		items = append(items, FieldError{Text: v.T(k)})
	}
	return summary(v.Page, items)
}
