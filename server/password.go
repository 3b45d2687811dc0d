package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/web"
)

// passwordPage shows the form that changes the password (ASVS 5.0 V6.2.2), or,
// for an account that logs in through an identity provider, that it has none.
func (s *accountPages) passwordPage(c echo.Context) error {
	return s.renderPassword(c, http.StatusOK, nil)
}

func (s *accountPages) renderPassword(c echo.Context, status int, errs map[string]string) error {
	cur := s.session(c)
	_, password, err := s.d.Service.Whoami(c.Request().Context(), cur.sess.AccountID)
	if err != nil {
		return err
	}
	return s.render(c, status, "password", web.PasswordView{Page: s.page(c, web.T(lang(c), "password.title")),
		CSRF: account.CSRFToken(cur.id), Errors: errs, NoPassword: !password})
}

// passwordChange changes the password. On success the session has a new id
// (the cookie follows) and every other session has ended; a refusal shows the
// form again with the message at its field. The passwords are never echoed.
func (s *accountPages) passwordChange(c echo.Context) error {
	ch := account.PasswordChange{Current: c.FormValue("current_password"), New: c.FormValue("new_password"),
		Repeat: c.FormValue("repeat_password")}
	newID, sess, err := s.d.Service.ChangePassword(c.Request().Context(), s.session(c).id, ch, client(c))
	switch {
	case err == nil:
		s.setSession(c, newID, sess)
		return s.render(c, http.StatusOK, "password", web.PasswordView{
			Page: s.page(c, web.T(lang(c), "password.title")), CSRF: account.CSRFToken(newID), Done: true})
	case is(err, account.ErrNoSession):
		s.clearSession(c)
		return s.loginFailed(c, "", "", err)
	case is(err, account.ErrNoAuthenticatorHere):
		return s.renderPassword(c, http.StatusConflict, nil)
	}
	for _, r := range passwordRefusals {
		if is(err, r.err) {
			return s.renderPassword(c, r.status, map[string]string{r.field: pgo.ErrorReason(err)})
		}
	}
	return err
}

// passwordRefusals says at which field of the form each refusal is shown ("":
// above the form) and with which status.
var passwordRefusals = []struct {
	err    error
	field  string
	status int
}{
	{account.ErrCurrentPasswordMissing, "current_password", http.StatusBadRequest},
	{account.ErrCurrentPasswordWrong, "current_password", http.StatusBadRequest},
	{account.ErrPasswordWait, "current_password", http.StatusTooManyRequests},
	{account.ErrPasswordChangedMeanwhile, "current_password", http.StatusConflict},
	{account.ErrPasswordTooShort, "new_password", http.StatusBadRequest},
	{account.ErrPasswordTooLong, "new_password", http.StatusBadRequest},
	{account.ErrPasswordSame, "new_password", http.StatusBadRequest},
	{account.ErrPasswordMismatch, "repeat_password", http.StatusBadRequest},
	{account.ErrPasswordLocked, "", http.StatusForbidden},
	{account.ErrTooManyAttempts, "", http.StatusTooManyRequests},
	{account.ErrBusy, "", http.StatusTooManyRequests},
}
