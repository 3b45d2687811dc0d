package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/fhir"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// FHIRBasePath is where the source role serves gegevensdienst 51: the
// ResourceEndpointuri this instance registers is PGO_PUBLIC_URL + FHIRBasePath.
const FHIRBasePath = "/51/fhir"

// FHIRExports is what the FHIR endpoint needs of the export domain (export.Serving).
type FHIRExports interface {
	Job(ctx context.Context, id string) (export.Job, error)
	Await(ctx context.Context, id string, hold time.Duration) (export.Job, error)
	RetryAfter(held time.Duration) time.Duration
	Open(ctx context.Context, job export.Job) (io.ReadCloser, error)
	PatientName(ctx context.Context, userID string) (string, error)
	DocumentReference(job export.Job, patientName string) fhir.DocumentReference
	RecordServed(ctx context.Context, ev audit.Event, id string, until time.Time) error
	Record(ctx context.Context, ev audit.Event) error
	Source() string
}

var _ FHIRExports = (*export.Serving)(nil)

// FHIRDeps are the parts of the FHIR endpoint.
type FHIRDeps struct {
	Access  AccessChecker
	Exports FHIRExports
	// HoldLimit bounds the wait of a plain Binary read for a rendering document
	// (PGO_HOLD_LIMIT); 0 answers 503 + Retry-After at once.
	HoldLimit time.Duration
	// Unauthenticated bounds the audit records of requests refused for want of
	// a verified client certificate (nil: each one is recorded).
	Unauthenticated *audit.Quota
}

type fhirAPI struct {
	s    *Server
	d    FHIRDeps
	base string
}

// MountFHIR registers the FHIR STU3 endpoint of gegevensdienst 51 on the peer
// routes (mutual TLS): DocumentReference search and read, Binary read, metadata,
// and an OperationOutcome for everything else (DocumentManifest is not offered: the
// koppelvlak exchanges references only). Every request needs a bearer token bound
// to the client certificate (RFC 6750, RFC 8705 §3).
func (s *Server) MountFHIR(d FHIRDeps) {
	a := &fhirAPI{s: s, d: d, base: strings.TrimRight(s.cfg.PublicURL, "/") + FHIRBasePath}
	g := s.group(KindPeer, a.requirePeer, a.authorize)
	g.GET(FHIRBasePath+"/metadata", a.metadata)
	g.GET(FHIRBasePath+"/DocumentReference", a.search)
	g.GET(FHIRBasePath+"/DocumentReference/:id", a.readDocumentReference)
	g.GET(FHIRBasePath+"/Binary/:id", a.binary)
	writes := []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	for _, p := range []string{"/metadata", "/DocumentReference", "/DocumentReference/:id", "/Binary/:id"} {
		for _, m := range writes {
			g.Add(m, FHIRBasePath+p, a.readOnly)
		}
	}
	for _, m := range append(writes, http.MethodGet, http.MethodHead) {
		g.Add(m, FHIRBasePath+"/*", a.unsupported)
	}
}

// requirePeer is Server.requirePeer in FHIR's terms: a request without a
// verified client certificate gets 401 with WWW-Authenticate and an
// OperationOutcome (not the problem+json of other peer routes), and the refusal
// is audited (fhir_refused, no_client_certificate; ASVS V16).
func (a *fhirAPI) requirePeer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		peer, err := a.s.verifiedPeer(r)
		if err != nil {
			a.refuse(c, reqctx.Peer{}, audit.Event{Reason: "no_client_certificate"})
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="`+a.base+`"`)
			return writeOutcome(c, http.StatusUnauthorized, "security", pgo.ErrorMessage(err))
		}
		c.SetRequest(r.WithContext(reqctx.WithPeer(r.Context(), peer)))
		return next(c)
	}
}

// authorize checks the bearer token through the AccessChecker with the thumbprint of
// the verified client certificate. A refusal is 401 with WWW-Authenticate (RFC 6750
// §3: error="invalid_token" when a token was presented; no error code when none was,
// §3.1) and an OperationOutcome, and is audited once: a missing token here
// (fhir_refused), a refused token by the checker, which alone knows why
// (access_refused with the precise reason; see AccessChecker).
func (a *fhirAPI) authorize(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		acc, ok, err := a.checkAccess(c)
		if !ok {
			return err
		}
		c.Set("fhir.access", acc)
		if r := c.Request(); acc.CorrelationID != "" && !reqctx.ValidID(r.Header.Get(reqctx.HeaderCorrelationID)) {
			// The peer sent no correlation id of its own: this request belongs
			// to the transfer its token was issued for, so its logs, audit
			// records and response carry that transfer's id, not a fresh one.
			ids := reqctx.FromContext(r.Context())
			ids.Correlation = acc.CorrelationID
			c.SetRequest(r.WithContext(reqctx.WithIDs(r.Context(), ids)))
			c.Response().Header()[reqctx.HeaderCorrelationID] = []string{acc.CorrelationID}
		}
		return next(c)
	}
}

// checkAccess verifies the request's bearer token now; when it is refused the
// refusal has been answered (ok false, err what the handler returns).
func (a *fhirAPI) checkAccess(c echo.Context) (acc FHIRAccess, ok bool, err error) {
	ctx := c.Request().Context()
	peer, _ := reqctx.PeerFromContext(ctx)
	scheme, token, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		a.refuse(c, peer, audit.Event{Reason: "no_token"})
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="`+a.base+`"`)
		return acc, false, writeOutcome(c, http.StatusUnauthorized, "login", "An access token is required (Authorization: Bearer).")
	}
	acc, err = a.d.Access.CheckAccess(consent.WithIP(ctx, c.RealIP()), token, peer.Thumbprint)
	if err != nil {
		if pgo.ErrorCode(err) != pgo.EUNAUTHORIZED {
			a.s.log.ErrorContext(ctx, "fhir: check access", "error", err.Error())
			return acc, false, writeOutcome(c, http.StatusInternalServerError, "exception", internalText)
		}
		// Audited by the checker already: a second record would count one
		// refusal twice, and with a vaguer reason.
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="`+a.base+`", error="invalid_token"`)
		return acc, false, writeOutcome(c, http.StatusUnauthorized, "security", "The access token is not valid: expired, revoked, or issued for another client certificate.")
	}
	return acc, true, nil
}

const internalText = "An internal error has occurred. Quote the MedMij-Request-ID when you report it."

func accessOf(c echo.Context) FHIRAccess {
	acc, _ := c.Get("fhir.access").(FHIRAccess)
	return acc
}

// refuse audits a refused request (fhir_refused); ev carries reason and what is known.
func (a *fhirAPI) refuse(c echo.Context, peer reqctx.Peer, ev audit.Event) {
	ev.Action, ev.Outcome, ev.ActorType, ev.ActorID = audit.ActFHIRRefused, audit.Failure, audit.ActorPeer, peer.Name
	if ev.ActorID == "" {
		ev.ActorID = "unknown"
	}
	a.fill(c, &ev)
	if ev.Details == nil {
		ev.Details = map[string]string{}
	}
	ev.Details["route"] = c.Path()
	if peer.Thumbprint == "" {
		// no verified certificate: anyone who reaches the port can send these,
		// so a bounded number is recorded
		switch v, until := a.d.Unauthenticated.Admit(ev.SourceIP); v {
		case audit.QuotaSkip:
			return
		case audit.QuotaLast:
			ev.Details[audit.DetailQuota] = until.UTC().Format(time.RFC3339)
		}
	}
	if err := a.d.Exports.Record(c.Request().Context(), ev); err != nil {
		a.s.log.ErrorContext(c.Request().Context(), "fhir: audit refusal", "error", err.Error())
	}
}

// fill sets the request facts of an audit record: source, client, ids.
func (a *fhirAPI) fill(c echo.Context, ev *audit.Event) {
	ids := reqctx.FromContext(c.Request().Context())
	ev.Role = audit.RoleSource
	ev.SourceIP, ev.UserAgent = c.RealIP(), c.Request().UserAgent()
	ev.RequestID, ev.CorrelationID = ids.Request, ids.Correlation
}

// record audits a list or download by the peer of acc; a failure to audit fails
// the request (NEN 7513: no access without its record).
func (a *fhirAPI) record(c echo.Context, acc FHIRAccess, action audit.Action, job export.Job, details map[string]string) error {
	ev := audit.Event{
		Action: action, Outcome: audit.Success, PersonID: acc.AccountID,
		ActorType: audit.ActorPeer, ActorID: acc.ClientID, ObjectType: "export", ObjectID: job.ID,
		Details: details,
	}
	if job.Status == export.StatusReady {
		ev.ObjectHashes = map[string]string{"sha256": hexString(job.SHA256[:]), "sha1": job.AttachmentHash()}
	}
	a.fill(c, &ev)
	ev.Details["grant_id"], ev.Details["token_id"] = acc.GrantID, acc.TokenID
	if c.Request().Method == http.MethodHead {
		ev.Details["method"] = http.MethodHead // the headers only, no body
	}
	return a.d.Exports.RecordServed(c.Request().Context(), ev, job.ID, acc.ExpiresAt)
}

// idPattern is the FHIR id datatype (STU3 datatypes.html#id).
var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// grantedJob resolves the id of a read: a malformed id is 400; the grant's own job
// is returned; a job of the same patient outside this grant is 403; anything else
// (no such job, another patient's) is 404 with the same text, so that a response
// never hints that someone else's document exists.
func (a *fhirAPI) grantedJob(c echo.Context, typ string) (export.Job, bool, error) {
	id, acc := c.Param("id"), accessOf(c)
	ctx := c.Request().Context()
	if !idPattern.MatchString(id) {
		return export.Job{}, false, writeOutcome(c, http.StatusBadRequest, "invalid", typ+": the id is not a valid FHIR id.")
	}
	notFound := func() error {
		return writeOutcome(c, http.StatusNotFound, "not-found", typ+"/"+id+" is not known.")
	}
	if _, err := uuid.Parse(id); err != nil {
		return export.Job{}, false, notFound()
	}
	// The peer's certificate was verified and its token accepted: its refusals
	// below are recorded whatever the quota of unauthenticated ones (SECURITY.md,
	// V16), which a refusal without the thumbprint would fall under.
	peer, _ := reqctx.PeerFromContext(ctx)
	peer.Name = acc.ClientID // the token's client, which that certificate names
	job, err := a.d.Exports.Job(ctx, id)
	switch {
	case pgo.ErrorCode(err) == pgo.ENOTFOUND:
		return export.Job{}, false, notFound()
	case err == nil && job.UserID != acc.AccountID:
		// Another patient's document: the same 404 as an unknown id (the peer
		// learns nothing), but audited, on the log of the patient whose
		// document was asked for (NEN 7513; ASVS V16: access control failures).
		a.refuse(c, peer, audit.Event{Reason: "other_patient", PersonID: job.UserID, ObjectType: "export", ObjectID: id})
		return export.Job{}, false, notFound()
	case err != nil:
		return export.Job{}, false, a.internal(c, err)
	case id != acc.ExportJobID:
		a.refuse(c, peer, audit.Event{Reason: "outside_grant", PersonID: acc.AccountID, ObjectType: "export", ObjectID: id})
		return export.Job{}, false, writeOutcome(c, http.StatusForbidden, "forbidden", typ+"/"+id+" is not part of the consent this token was issued for.")
	}
	return job, true, nil
}

func (a *fhirAPI) internal(c echo.Context, err error) error {
	if errors.Is(err, context.Canceled) {
		return nil // the peer went away
	}
	a.s.log.ErrorContext(c.Request().Context(), "fhir: request failed", "route", c.Path(), "error", err.Error())
	if c.Response().Committed {
		return nil
	}
	return writeOutcome(c, http.StatusInternalServerError, "exception", internalText)
}

// readOnly answers a write to a supported path: 405 with Allow and an
// OperationOutcome (the source role only reads, RFC 9110 §15.5.6).
func (a *fhirAPI) readOnly(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderAllow, "GET, HEAD")
	return writeOutcome(c, http.StatusMethodNotAllowed, "not-supported", "This endpoint only reads: use GET.")
}

// unsupported answers every other path under the base: 404 naming the type.
func (a *fhirAPI) unsupported(c echo.Context) error {
	typ, _, _ := strings.Cut(c.Param("*"), "/")
	if typ == "" {
		return writeOutcome(c, http.StatusNotFound, "not-supported", "This endpoint serves DocumentReference, Binary and metadata only.")
	}
	return writeOutcome(c, http.StatusNotFound, "not-supported",
		"Resource type "+strings.Trim(typ, "$")+" is not supported here; this endpoint serves DocumentReference, Binary and metadata only.")
}

// search answers GET [base]/DocumentReference with a searchset Bundle holding the
// grant's document when it matches (STU3 http.html#search, bundle.html#searchset).
func (a *fhirAPI) search(c echo.Context) error {
	acc, ctx := accessOf(c), c.Request().Context()
	q, err := parseDocSearch(c.Request().URL.RawQuery)
	if err != nil {
		return writeOutcome(c, http.StatusBadRequest, "invalid", "Invalid search: "+err.Error())
	}
	f, ok := negotiate(c.Request(), false)
	if !ok {
		return writeOutcome(c, http.StatusNotAcceptable, "not-supported", "_format: use json or xml.")
	}
	job, err := a.d.Exports.Job(ctx, acc.ExportJobID)
	if err != nil {
		return a.internal(c, err)
	}
	var entries []fhir.BundleEntry
	if q.matches("current", job.Created) {
		entry, err := a.entry(ctx, job)
		if err != nil {
			return a.internal(c, err)
		}
		entries = append(entries, entry)
	}
	total := len(entries)
	b := fhir.Bundle{
		ID:    uuid.NewString(),
		Meta:  &fhir.Meta{LastUpdated: time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)},
		Type:  "searchset",
		Total: &total,
		Link:  []fhir.BundleLink{{Relation: "self", URL: q.selfLink(a.base)}},
		Entry: entries,
	}
	if err := a.record(c, acc, audit.ActDocumentListed, job, map[string]string{"matches": itoa(total), "format": f.name()}); err != nil {
		return a.internal(c, err)
	}
	return writeResource(c, http.StatusOK, f, b)
}

func (a *fhirAPI) entry(ctx context.Context, job export.Job) (fhir.BundleEntry, error) {
	name, err := a.d.Exports.PatientName(ctx, job.UserID)
	if err != nil {
		return fhir.BundleEntry{}, err
	}
	raw, err := json.Marshal(a.d.Exports.DocumentReference(job, name))
	if err != nil {
		return fhir.BundleEntry{}, err
	}
	return fhir.BundleEntry{FullURL: a.base + "/DocumentReference/" + job.ID, Resource: raw, Search: &fhir.BundleSearch{Mode: "match"}}, nil
}

// readDocumentReference answers GET [base]/DocumentReference/<id>.
func (a *fhirAPI) readDocumentReference(c echo.Context) error {
	f, ok := negotiate(c.Request(), false)
	if !ok {
		return writeOutcome(c, http.StatusNotAcceptable, "not-supported", "_format: use json or xml.")
	}
	job, ok, err := a.grantedJob(c, "DocumentReference")
	if !ok {
		return err
	}
	ctx := c.Request().Context()
	name, err := a.d.Exports.PatientName(ctx, job.UserID)
	if err != nil {
		return a.internal(c, err)
	}
	if err := a.record(c, accessOf(c), audit.ActDocumentListed, job, map[string]string{"read": "DocumentReference", "format": f.name()}); err != nil {
		return a.internal(c, err)
	}
	return writeResource(c, http.StatusOK, f, a.d.Exports.DocumentReference(job, name))
}
