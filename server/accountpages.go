package server

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/web"
)

// accountPage shows who is logged in, the logout buttons and, for password
// accounts, the way to a new authenticator.
func (s *accountPages) accountPage(c echo.Context) error {
	cur := s.session(c)
	name, password, err := s.d.Service.Whoami(c.Request().Context(), cur.sess.AccountID)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "account", web.AccountView{Page: s.page(c, web.T(lang(c), "account.title")),
		CSRF: account.CSRFToken(cur.id), Name: name, Role: string(cur.sess.Role), Password: password,
		FailedBefore: cur.sess.FailedBefore})
}

// enrolPage shows the pending new authenticator (QR code, key, code form) or the
// button that starts one.
func (s *accountPages) enrolPage(c echo.Context) error {
	return s.renderEnrol(c, http.StatusOK, "")
}

func (s *accountPages) renderEnrol(c echo.Context, status int, errKey string) error {
	cur := s.session(c)
	v := web.EnrolView{Page: s.page(c, web.T(lang(c), "enrol.title")), CSRF: account.CSRFToken(cur.id),
		QRPath: "/account/enrol/qr.png", Error: errKey}
	if errKey == "enrol.bad_current_code" {
		v.Error, v.CurrentError = "", errKey
	}
	uri, err := s.d.Service.PendingEnrolment(c.Request().Context(), cur.id)
	switch pgo.ErrorCode(err) {
	case "":
		v.Pending, v.URI = true, uri
		if u, perr := url.Parse(uri); perr == nil {
			v.Secret = u.Query().Get("secret")
		}
	case pgo.ENOTFOUND:
	default:
		return err
	}
	return s.render(c, status, "enrol", v)
}

// enrolBegin starts a new authenticator after the current one's code (or a
// recovery code) is given. Too many wrong codes lock the account and end the
// session: the browser then gets the login page.
func (s *accountPages) enrolBegin(c echo.Context) error {
	_, err := s.d.Service.BeginEnrolment(c.Request().Context(), s.session(c).id, c.FormValue("current_code"), client(c))
	switch {
	case err == nil:
		return c.Redirect(http.StatusSeeOther, "/account/enrol")
	case is(err, account.ErrEnrolCurrentCode):
		return s.renderEnrol(c, http.StatusBadRequest, "enrol.bad_current_code")
	case is(err, account.ErrNoSession):
		s.clearSession(c)
		return s.loginFailed(c, "", "", err)
	}
	return err
}

// enrolQR draws the pending otpauth:// URI as a PNG (served from our origin: the
// CSP allows no data: images). Never cached (the default Cache-Control: no-store).
func (s *accountPages) enrolQR(c echo.Context) error {
	uri, err := s.d.Service.PendingEnrolment(c.Request().Context(), s.session(c).id)
	if err != nil {
		return err
	}
	png, err := account.QRCodePNG(uri, 256)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, "image/png", png)
}

// enrolConfirm switches to the new authenticator and shows the new recovery
// codes once.
func (s *accountPages) enrolConfirm(c echo.Context) error {
	enr, err := s.d.Service.ConfirmEnrolment(c.Request().Context(), s.session(c).id, c.FormValue("code"), client(c))
	if is(err, account.ErrEnrolCode) {
		return s.renderEnrol(c, http.StatusBadRequest, "enrol.bad_code")
	}
	if err != nil {
		return err
	}
	s.setSession(c, enr.SessionID, enr.Session) // the session continues under a new id
	return s.render(c, http.StatusOK, "enrol_codes", web.CodesView{Page: s.page(c, web.T(lang(c), "enrol.done")), Codes: enr.Codes})
}
