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
	// FailedBefore is how many failed login attempts there were since the
	// previous login (told once per session; issue 15).
	FailedBefore int
}

// EnrolView is the page that sets up a new authenticator app.
type EnrolView struct {
	Page
	CSRF    string
	Pending bool   // a new seed is waiting for its first code
	URI     string // otpauth:// URI (also drawn as QR code at QRPath)
	Secret  string // the base32 seed, for typing in by hand
	QRPath  string
	Error   string // about the new app's code (Pending)
	// CurrentError is about the current app's code asked before a new one is
	// made (not Pending).
	CurrentError string
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
	ActorType   string // audit.ActorType code; shown in words (ActorLabel)
	ActorID     string
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
	// CheckpointUnverified: its signature did not verify here (forged, or no
	// key to check it with); the page says so instead of calling it signed.
	CheckpointUnverified bool
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

// FieldError is one line of a form's error summary: the message and the id of
// the input it is about ("" when it is about no single input), so the summary
// can link to the field (WCAG 2.2 SC 3.3.1, GOV.UK-style error summary).
type FieldError struct {
	Field, Text string
}

// errorList orders the errors as the fields appear in the form, then the rest.
func errorList(p Page, errs map[string]string, order ...string) []FieldError {
	var out []FieldError
	for _, f := range order {
		if k, ok := errs[f]; ok {
			out = append(out, FieldError{Field: f, Text: p.T(k)})
		}
	}
	for _, f := range []string{"cursor"} {
		if k, ok := errs[f]; ok {
			out = append(out, FieldError{Text: p.T(k)})
		}
	}
	return out
}

// ErrorList is the filter form's error summary, in form order.
func (v AuditView) ErrorList() []FieldError {
	return errorList(v.Page, v.Errors, "from", "to", "action", "person", "peer", "correlation")
}

// ErrorList is the period form's error summary, in form order.
func (v MyLogView) ErrorList() []FieldError {
	return errorList(v.Page, v.Errors, "from", "to")
}

// Filtered reports whether any filter is set (the page then offers to clear it).
func (f AuditFilter) Filtered() bool {
	return f.From != "" || f.To != "" || f.Action != "" || f.Person != "" || f.Peer != "" || f.Correlation != ""
}

// ErrorSummary is the box above a form that lists what to fix, each item linking
// to its field.
type ErrorSummary struct {
	Title string
	Items []FieldError
}

func summary(p Page, items []FieldError) ErrorSummary {
	return ErrorSummary{Title: p.T("form.errors"), Items: items}
}

func one(p Page, field, key string) ErrorSummary {
	if key == "" {
		return ErrorSummary{}
	}
	return summary(p, []FieldError{{Field: field, Text: p.T(key)}})
}

// Summary is the filter form's error summary.
func (v AuditView) Summary() ErrorSummary { return summary(v.Page, v.ErrorList()) }

// Summary is the period form's error summary.
func (v MyLogView) Summary() ErrorSummary { return summary(v.Page, v.ErrorList()) }

// Summary is the login form's error summary; it points at the first field, as
// the message deliberately does not say which field was wrong.
func (v LoginView) Summary() ErrorSummary { return one(v.Page, "name", v.Error) }

// Summary is the code form's error summary.
func (v CodeView) Summary() ErrorSummary { return one(v.Page, "code", v.Error) }

// Summary is the error summary of the form on the page: the new app's code
// when one is pending, else the current app's code.
func (v EnrolView) Summary() ErrorSummary {
	if v.Pending {
		return one(v.Page, "code", v.Error)
	}
	return one(v.Page, "current_code", v.CurrentError)
}

// OutcomeLabel is an outcome code (success, failure) in words; the code itself
// when it has no words.
func (v AuditView) OutcomeLabel(o string) string { return v.word("audit.outcome.", o) }

// ActorLabel is an actor type (user, peer, auditor, system) in words; the code
// itself when it has no words.
func (v AuditView) ActorLabel(t string) string { return v.word("audit.actor.", t) }

func (v AuditView) word(prefix, code string) string {
	if w := v.T(prefix + code); w != prefix+code {
		return w
	}
	return code
}

// ActionLabel is an action's plain-language name followed by its code, for the
// filter's choices and the table (auditors read both); just the code when it has
// no name yet. The names are the auditor's (audit.act.*), describing the event
// as recorded; the patient's own log words them from the patient's side
// ("your dossier fetched"), which misled on the auditor page (issue 13).
func (v AuditView) ActionLabel(a string) string {
	key := "audit.act." + a
	if name := v.T(key); name != key {
		return name + " (" + a + ")"
	}
	return a
}
