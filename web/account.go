package web

// View models of the login, account and audit pages (package account; server
// files login.go, session.go, auditpages.go). Plain strings only: the server
// translates domain values before rendering.

// LoginView is step 1 of the login (name and password) and the page every login
// failure returns to. Error is a translation key, empty when there is none.
type LoginView struct {
	Page
	CSRF  string
	Name  string // echoed back after a failure, never the password
	Error string
	Info  string // e.g. "login.logged_out"
	OIDC  bool   // show "log in through your identity provider"
	Next  string // local path to go to after login ("" : the account page)
}

// CodeView is step 2: the TOTP or recovery code.
type CodeView struct {
	Page
	CSRF  string
	Error string
	Next  string
}

// AccountView is the account page: who is logged in, logout, enrolment.
type AccountView struct {
	Page
	CSRF     string
	Name     string
	Role     string // "patient" or "auditor"
	Password bool   // a password account (can set up a new authenticator)
}

// EnrolView is the page that sets up a new authenticator app.
type EnrolView struct {
	Page
	CSRF    string
	Pending bool   // a new seed is waiting for its first code
	URI     string // otpauth:// URI (also drawn as QR code at QRPath)
	Secret  string // the base32 seed, for typing in by hand
	QRPath  string
	Error   string
}

// CodesView shows new recovery codes, once.
type CodesView struct {
	Page
	Codes []string
}

// AuditFilter is the auditor view's filter form, as typed (so it can be shown back).
type AuditFilter struct {
	From, To, Action, Person, Peer, Correlation string
}

// AuditRow is one audit record in the auditor view.
type AuditRow struct {
	Seq         int64
	Time        string // local time, "2006-01-02 15:04:05"
	TimeISO     string // for <time datetime>
	Action      string
	Outcome     string
	Reason      string
	Person      string
	Actor       string // "type:id"
	Object      string
	SourceIP    string
	Correlation string
}

// AuditView is the auditor view of the audit log (NEN 7513 §9).
type AuditView struct {
	Page
	Filter   AuditFilter
	Actions  []string
	Rows     []AuditRow
	NextURL  string            // "" on the last page
	FirstURL string            // "" on the first page
	Errors   map[string]string // field -> translation key
	HeadSeq  int64
	HeadHash string
	HeadTime string
	// Checkpoint is the last signed checkpoint ("" when none yet).
	Checkpoint string
}

// MyLogRow is one line of the patient's own log, in plain words.
type MyLogRow struct {
	Time    string
	TimeISO string
	Who     string // already translated
	What    string // already translated
	Failed  bool
}

// MyLogView is "Wie heeft mijn gegevens ingezien of gedeeld?" (NEN 7513 §9: the
// patient's right to see who accessed their data).
type MyLogView struct {
	Page
	From, To string
	Rows     []MyLogRow
	NextURL  string
	Errors   map[string]string
}

// FieldView is one labelled input with its error, for the shared "field" block.
type FieldView struct {
	Name, Label, Value, Type, Error string
}

func field(p Page, errs map[string]string, name, label, value, typ string) FieldView {
	f := FieldView{Name: name, Label: p.T(label), Value: value, Type: typ}
	if k, ok := errs[name]; ok {
		f.Error = p.T(k)
	}
	return f
}

// Field describes the filter input name (label is a translation key).
func (v AuditView) Field(name, label, value, typ string) FieldView {
	return field(v.Page, v.Errors, name, label, value, typ)
}

// Field describes the period input name (label is a translation key).
func (v MyLogView) Field(name, label, value, typ string) FieldView {
	return field(v.Page, v.Errors, name, label, value, typ)
}
