package server

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
	"github.com/pgo-koppelvlak/pgo/web"
)

// The audit pages (NEN 7513 §9): the auditor view of the whole log and the
// patient's own log. Both read through the audit package's query layer, and each
// view is itself written to the audit log before the page is shown (fail closed).

// displayZone is the time zone of dates typed in filters and of times shown.
var displayZone = func() *time.Location {
	if l, err := time.LoadLocation("Europe/Amsterdam"); err == nil {
		return l
	}
	return time.UTC
}()

// period parses the from/to date inputs (to is inclusive) into the half-open
// [From, To) of audit.Filter; errs gets a translation key per bad field.
func period(from, to string, errs map[string]string) (time.Time, time.Time) {
	day := func(name, v string) time.Time {
		if v == "" {
			return time.Time{}
		}
		t, err := time.ParseInLocation(time.DateOnly, v, displayZone)
		if err != nil {
			errs[name] = "audit.err.date"
		}
		return t
	}
	f, t := day("from", from), day("to", to)
	if !t.IsZero() {
		t = t.AddDate(0, 0, 1)
	}
	if !f.IsZero() && !t.IsZero() && !f.Before(t) {
		errs["to"] = "audit.err.period"
	}
	return f, t
}

// filterID checks an id typed into a filter: the id alphabet, and not a BSN.
// A nine-digit run inside a longer id is allowed: the log holds such ids (random
// UUIDs have one about once in a thousand) and the filter must find them.
func filterID(name, v string, errs map[string]string) string {
	switch {
	case v == "":
	case audit.LooksLikeBSN(v):
		errs[name] = "audit.err.bsn"
	case !reqctx.WellFormedID(v):
		errs[name] = "audit.err.id"
	}
	return v
}

func cursorOK(v string) bool {
	n, err := strconv.ParseInt(v, 10, 64)
	return v == "" || (err == nil && n > 0)
}

// auditPage is the auditor view: filter by period, action, person, peer and
// correlation id; newest first, keyset-paginated; the chain head and last signed
// checkpoint on top.
func (s *accountPages) auditPage(c echo.Context) error {
	q := c.QueryParams()
	v := web.AuditView{Page: s.page(c, web.T(lang(c), "audit.title")), Errors: map[string]string{},
		Filter: web.AuditFilter{From: q.Get("from"), To: q.Get("to"), Action: q.Get("action"),
			Person: q.Get("person"), Peer: q.Get("peer"), Correlation: q.Get("correlation")}}
	for _, a := range audit.AllActions() {
		v.Actions = append(v.Actions, string(a))
	}
	f := audit.Filter{Limit: 50, Cursor: q.Get("cursor")}
	f.From, f.To = period(v.Filter.From, v.Filter.To, v.Errors)
	if a := audit.Action(v.Filter.Action); a != "" {
		if !a.Valid() {
			v.Errors["action"] = "audit.err.action"
		}
		f.Actions = []audit.Action{a}
	}
	f.PersonID = filterID("person", v.Filter.Person, v.Errors)
	if f.ActorID = filterID("peer", v.Filter.Peer, v.Errors); f.ActorID != "" {
		f.ActorType = audit.ActorPeer
	}
	f.CorrelationID = filterID("correlation", v.Filter.Correlation, v.Errors)
	if !cursorOK(f.Cursor) {
		v.Errors["cursor"] = "audit.err.cursor"
	}
	if len(v.Errors) > 0 {
		return s.renderAudit(c, http.StatusBadRequest, v)
	}
	// A view filtered on one patient is about that patient: it shows in their own
	// log. A filter value that names no patient stays in the details only.
	about, err := s.patientOrNone(c, f.PersonID)
	if err != nil {
		return err
	}
	if err := s.recordView(c, "audit_log", about, f); err != nil {
		return err
	}
	page, err := s.d.Audit.Query(c.Request().Context(), f)
	if err != nil {
		return err
	}
	for _, r := range page.Records {
		v.Rows = append(v.Rows, auditRow(r))
	}
	if page.Next != "" {
		v.NextURL = pageURL("/audit", q, page.Next)
	}
	if f.Cursor != "" {
		v.FirstURL = pageURL("/audit", q, "")
	}
	return s.renderAudit(c, http.StatusOK, v)
}

// patientOrNone returns id when it names a patient's account, else "".
func (s *accountPages) patientOrNone(c echo.Context, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	patient, err := s.d.Service.IsPatient(c.Request().Context(), id)
	if err != nil || !patient {
		return "", err
	}
	return id, nil
}

func (s *accountPages) renderAudit(c echo.Context, status int, v web.AuditView) error {
	st, err := s.d.Audit.Status(c.Request().Context())
	if err != nil {
		return err
	}
	v.HeadSeq, v.HeadHash = st.HeadSeq, st.HeadHash.String()
	if !st.HeadRecorded.IsZero() {
		v.HeadTime = st.HeadRecorded.In(displayZone).Format(time.DateTime)
	}
	if cp := st.LastCheckpoint; cp != nil {
		v.Checkpoint = strconv.FormatInt(cp.Seq, 10) + " · " + cp.SignedAt.In(displayZone).Format(time.DateTime)
		v.CheckpointUnverified = !st.CheckpointVerified
	}
	return s.render(c, status, "audit", v)
}

func auditRow(r audit.Record) web.AuditRow {
	row := web.AuditRow{Seq: r.Seq, Time: r.Time.In(displayZone).Format(time.DateTime),
		TimeISO: r.Time.UTC().Format(time.RFC3339), Action: string(r.Action), Outcome: string(r.Outcome),
		Reason: r.Reason, Person: r.PersonID, ActorType: string(r.ActorType), ActorID: r.ActorID,
		SourceIP: r.SourceIP, Correlation: r.CorrelationID}
	if r.ObjectType != "" {
		row.Object = r.ObjectType
		if r.ObjectID != "" {
			row.Object += ":" + r.ObjectID
		}
	}
	return row
}

// pageURL is the link to another page of the same filter.
func pageURL(path string, q url.Values, cursor string) string {
	n := url.Values{}
	for k, vs := range q {
		if k != "cursor" && len(vs) > 0 && vs[0] != "" {
			n.Set(k, vs[0])
		}
	}
	if cursor != "" {
		n.Set("cursor", cursor)
	}
	return path + "?" + n.Encode()
}

// myLogPage is "Wie heeft mijn gegevens ingezien of gedeeld?": the records about
// the logged-in patient, in plain words, filterable by period.
func (s *accountPages) myLogPage(c echo.Context) error {
	q := c.QueryParams()
	cur := s.session(c)
	v := web.MyLogView{Page: s.page(c, web.T(lang(c), "mylog.title")), From: q.Get("from"), To: q.Get("to"),
		Errors: map[string]string{}}
	f := audit.Filter{PersonID: cur.sess.AccountID, Limit: 50, Cursor: q.Get("cursor")}
	f.From, f.To = period(v.From, v.To, v.Errors)
	if !cursorOK(f.Cursor) {
		v.Errors["from"] = "audit.err.cursor"
	}
	if len(v.Errors) > 0 {
		return s.render(c, http.StatusBadRequest, "mylog", v)
	}
	if err := s.recordView(c, "own_log", cur.sess.AccountID, f); err != nil {
		return err
	}
	page, err := s.d.Audit.Query(c.Request().Context(), f)
	if err != nil {
		return err
	}
	for _, r := range page.Records {
		v.Rows = append(v.Rows, s.myLogRow(v.Page, r, cur.sess.AccountID))
	}
	if page.Next != "" {
		v.NextURL = pageURL("/mijn-log", q, page.Next)
	}
	return s.render(c, http.StatusOK, "mylog", v)
}

// myLogRow says who did what in the patient's words.
func (s *accountPages) myLogRow(p web.Page, r audit.Record, self string) web.MyLogRow {
	who := p.T("mylog.who.user")
	switch {
	case r.ActorID == self:
		who = p.T("mylog.who.self")
	case r.ActorType == audit.ActorPeer:
		who = p.T("mylog.who.peer", r.ActorID)
	case r.ActorType == audit.ActorSystem:
		who = p.T("mylog.who.system")
	case r.ActorType == audit.ActorAuditor:
		who = p.T("mylog.who.auditor")
	}
	return web.MyLogRow{Time: web.DateTime(p.Lang, r.Time.In(displayZone)), TimeISO: r.Time.UTC().Format(time.RFC3339),
		Who: who, What: p.T("mylog.act." + string(r.Action)), Failed: r.Outcome == audit.Failure}
}

// recordView writes the audit_viewed record of this page view, with the filter
// used, before anything is shown.
func (s *accountPages) recordView(c echo.Context, view, personID string, f audit.Filter) error {
	cur := s.session(c)
	cl := client(c)
	d := map[string]string{"view": view}
	add := func(k, v string) {
		if v != "" {
			d[k] = v
		}
	}
	if !f.From.IsZero() {
		add("filter.from", f.From.UTC().Format(time.RFC3339))
	}
	if !f.To.IsZero() {
		add("filter.to", f.To.UTC().Format(time.RFC3339))
	}
	if len(f.Actions) > 0 {
		add("filter.action", string(f.Actions[0]))
	}
	add("filter.person", f.PersonID)
	add("filter.peer", f.ActorID)
	add("filter.correlation", f.CorrelationID)
	add("cursor", f.Cursor)
	actor := audit.ActorUser
	if cur.sess.Role == "auditor" {
		actor = audit.ActorAuditor
	}
	return s.d.Audit.Record(c.Request().Context(), audit.Event{
		Action: audit.ActAuditViewed, Outcome: audit.Success, PersonID: personID,
		ActorType: actor, ActorID: cur.sess.AccountID, ObjectType: "audit_log",
		SourceIP: cl.IP, UserAgent: cl.UserAgent, RequestID: cl.RequestID, CorrelationID: cl.CorrelationID,
		Details: d,
	})
}
