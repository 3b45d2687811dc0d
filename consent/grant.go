package consent

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// Screen is what the consent screen shows (MedMij "Toestemming geven"): who asks
// (the OCL's name), for which gegevensdienst (the GNL's name), the categories of
// the patient's dossier with counts, and a preview of their items.
type Screen struct {
	Request            *Request
	GegevensdienstName string
	Categories         []Category
	Preview            dossier.Summary // every category with data, its first dossier.PreviewRows items
	ValidMinutes       int             // how long the consent lasts (15)
	MaxItems           int             // the most items one consent may select (Config.MaxItems)
}

// Items is how many items the categories offered hold together: what choosing
// them all would select (export.SelectedItems, as Decide counts).
func (sc Screen) Items() int {
	counts := make(map[dossier.Category]int, len(sc.Categories))
	cats := make([]dossier.Category, 0, len(sc.Categories))
	for _, ct := range sc.Categories {
		counts[ct.Key] = ct.Count
		cats = append(cats, ct.Key)
	}
	return export.SelectedItems(counts, cats)
}

// OverMax reports whether the categories offered hold more items together than
// one consent may select, so the screen can warn before the patient submits a
// choice Decide refuses with TooLargeError (all categories come ticked).
func (sc Screen) OverMax() bool { return sc.MaxItems > 0 && sc.Items() > sc.MaxItems }

// Alone reports whether category c by itself holds more items than one consent
// may select: no choice that includes it can pass, whatever else is left out.
func (sc Screen) Alone(c dossier.Category) bool { return sc.MaxItems > 0 && sc.Count(c) > sc.MaxItems }

// Count is how many items category c holds (the preview shows at most
// dossier.PreviewRows of them); 0 when it holds none.
func (sc Screen) Count(c dossier.Category) int {
	for _, ct := range sc.Categories {
		if ct.Key == c {
			return ct.Count
		}
	}
	return 0
}

// Category is one selectable part of the dossier.
type Category struct {
	Key   dossier.Category
	Count int
}

// Screen builds the consent screen for a logged-in patient and audits that it was
// shown.
func (s *Service) Screen(ctx context.Context, req *Request, who Caller) (Screen, error) {
	name, err := s.d.Lists.GegevensdienstName(Gegevensdienst)
	if err != nil {
		name = "Verzamelen Documenten 3.0 (pdf/a)"
	}
	ov, err := s.d.Dossier.Overview(ctx, who.AccountID)
	if err != nil {
		return Screen{}, err
	}
	sc := Screen{Request: req, GegevensdienstName: name, ValidMinutes: int(s.cfg.ConsentTTL.Minutes()), Preview: ov.Summary,
		MaxItems: s.cfg.MaxItems}
	for _, ci := range dossier.Categories {
		if n := ov.Counts[ci.Key]; n > 0 {
			sc.Categories = append(sc.Categories, Category{Key: ci.Key, Count: n})
		}
	}
	ctx = reqctx.WithIDs(ctx, reqctx.IDs{Request: req.RequestID, Correlation: req.CorrelationID})
	ev := s.event(ctx, audit.ActConsentShown, who, req.ClientID)
	ev.ObjectType = "consent"
	return sc, s.d.Store.Audit(ctx, ev)
}

// errNoCategory: allow needs at least one category.
var errNoCategory = pgo.NewError(pgo.EINVALID, "consent.error.no_category", "Choose at least one part of your dossier.")

// ReasonTooLarge is the translation key of TooLargeError; its text takes the
// selection's items and the maximum (%d, %d).
const ReasonTooLarge = "consent.error.too_large"

// TooLargeError refuses a selection that holds more items than one document may
// hold (Config.MaxItems, PGO_EXPORT_MAX_ITEMS): the worker lays the whole document
// out in memory. The consent screen shows it again with Items and Max, asking the
// patient to choose fewer parts. It unwraps to a *pgo.Error (EINVALID,
// ReasonTooLarge).
type TooLargeError struct{ Items, Max int }

func (e *TooLargeError) Error() string { return e.Unwrap().Error() }

func (e *TooLargeError) Unwrap() error {
	return pgo.NewError(pgo.EINVALID, ReasonTooLarge, fmt.Sprintf(
		"The parts you chose hold %d items together; one document holds at most %d. Choose fewer parts.", e.Items, e.Max))
}

// Decide records the patient's choice and returns where the browser goes next:
// the client's redirect_uri with code, state and iss (allow) or with
// error=access_denied, state and iss (refuse). Allow writes, in ONE transaction,
// the grant, the single-use code (its hash), the export job with the outbox row of
// its render, and the audit records.
func (s *Service) Decide(ctx context.Context, r *http.Request, who Caller, allow bool, selected []string) (string, error) {
	req, err := s.Authorize(ctx, r, who)
	if err != nil {
		return "", err
	}
	ctx = reqctx.WithIDs(ctx, reqctx.IDs{Request: req.RequestID, Correlation: req.CorrelationID})
	if !allow {
		return s.refuse(ctx, req, who)
	}
	cats, err := s.selection(ctx, who.AccountID, selected)
	if err != nil {
		return "", err
	}
	code, err := s.grant(ctx, req, who, cats)
	if err != nil {
		return "", err
	}
	return redirectWith(req.redirect, url.Values{"code": {code}, "state": {req.State}, "iss": {s.cfg.Issuer}}), nil
}

// grant writes the grant, its code, its export job (with the outbox row of the
// render) and the audit records in one transaction, and returns the code.
func (s *Service) grant(ctx context.Context, req *Request, who Caller, cats []dossier.Category) (string, error) {
	now := s.now()
	g := Grant{ID: uuid.NewString(), AccountID: who.AccountID, ClientID: req.ClientID, ClientName: req.ClientName,
		Scope: req.Scope, Categories: cats, State: StateActive, RequestID: req.RequestID,
		CorrelationID: req.CorrelationID, SourceIP: who.IP, Created: now, Expires: now.Add(s.cfg.ConsentTTL),
		AuthorizeStateHash: stateHash(req.State)}
	job, jobEv, err := s.d.Exports.Prepare(export.Request{UserID: who.AccountID, Categories: cats,
		ActorType: audit.ActorUser, ActorID: who.AccountID, RequestID: req.RequestID, CorrelationID: req.CorrelationID})
	if err != nil {
		return "", err
	}
	g.ExportJobID = job.ID
	var code string
	err = s.d.Store.InTx(ctx, func(ctx context.Context) error {
		superseded, err := s.d.Store.CreateGrant(ctx, g)
		if err != nil {
			return err
		}
		if code, err = s.issueCode(ctx, req, g); err != nil {
			return err
		}
		if err := s.d.Store.CreateExport(ctx, job, jobEv); err != nil {
			return err
		}
		return s.auditGrant(ctx, g, who, superseded)
	})
	return code, err
}

// redirectWith is the verified redirect URI with params added to its query.
func redirectWith(u *url.URL, params url.Values) string {
	v := *u
	q := v.Query()
	for k, vs := range params {
		q[k] = vs
	}
	v.RawQuery = q.Encode()
	return v.String()
}

// issueCode lets fosite issue the code (and store its PKCE challenge) inside the
// grant's transaction.
func (s *Service) issueCode(ctx context.Context, req *Request, g Grant) (string, error) {
	sess := &Session{Subject: g.AccountID, GrantID: g.ID, ExportJobID: g.ExportJobID, ClientID: g.ClientID,
		Scope: g.Scope, RequestID: g.RequestID, CorrelationID: g.CorrelationID}
	req.ar.GrantScope(g.Scope)
	req.ar.GrantAudience(s.Audience())
	resp, err := s.oauth.NewAuthorizeResponse(ctx, req.ar, sess)
	if err != nil {
		return "", fromFosite(err).Err
	}
	return resp.GetCode(), nil
}

func (s *Service) auditGrant(ctx context.Context, g Grant, who Caller, superseded []string) error {
	ev := s.event(ctx, audit.ActConsentGranted, who, g.ClientID)
	ev.ObjectType, ev.ObjectID = "consent", g.ID
	ev.Details["categories"] = joinCats(g.Categories)
	ev.Details["export_job_id"] = g.ExportJobID
	supersedes(ev, superseded)
	code := s.event(ctx, audit.ActCodeIssued, who, g.ClientID)
	code.ObjectType, code.ObjectID = "consent", g.ID
	return s.d.Store.Audit(ctx, ev, code)
}

// stateHash is what a grant keeps of its authorization request's state.
func stateHash(state string) []byte {
	sum := sha256.Sum256([]byte(state))
	return sum[:]
}

// supersedes names in a decision's audit record the earlier grants of the same
// flow that it ended (a double submit: the last decision counts).
func supersedes(ev audit.Event, ids []string) {
	if len(ids) > 0 {
		ev.Details["supersedes"] = strings.Join(ids, ",")
	}
}

// refuse records a refusal (the grant row in state refused and its audit record)
// and sends error=access_denied back (RFC 6749 §4.1.2.1).
func (s *Service) refuse(ctx context.Context, req *Request, who Caller) (string, error) {
	now := s.now()
	g := Grant{ID: uuid.NewString(), AccountID: who.AccountID, ClientID: req.ClientID, ClientName: req.ClientName,
		Scope: req.Scope, State: StateRefused, RequestID: req.RequestID, CorrelationID: req.CorrelationID,
		SourceIP: who.IP, Created: now, Expires: now, Ended: now, AuthorizeStateHash: stateHash(req.State)}
	err := s.d.Store.InTx(ctx, func(ctx context.Context) error {
		superseded, err := s.d.Store.CreateGrant(ctx, g)
		if err != nil {
			return err
		}
		ev := s.event(ctx, audit.ActConsentDenied, who, g.ClientID)
		ev.ObjectType, ev.ObjectID = "consent", g.ID
		supersedes(ev, superseded)
		return s.d.Store.Audit(ctx, ev)
	})
	if err != nil {
		return "", err
	}
	return redirectWith(req.redirect, url.Values{"error": {"access_denied"},
		"error_description": {"The patient did not give consent."}, "state": {req.State}, "iss": {s.cfg.Issuer}}), nil
}

// selection parses the chosen categories: at least one, each a category of the
// patient's dossier that holds data, together at most Config.MaxItems items.
func (s *Service) selection(ctx context.Context, accountID string, selected []string) ([]dossier.Category, error) {
	counts, err := s.d.Dossier.Counts(ctx, accountID)
	if err != nil {
		return nil, err
	}
	var out []dossier.Category
	seen := map[dossier.Category]bool{}
	for _, v := range selected {
		c, ok := dossier.ParseCategory(v)
		if !ok || counts[c] == 0 {
			return nil, pgo.NewError(pgo.EINVALID, "consent.error.category", "Unknown part of the dossier.")
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, errNoCategory
	}
	// the items the export will lay out: every row of a selected category
	if n := export.SelectedItems(counts, out); n > s.cfg.MaxItems {
		return nil, &TooLargeError{Items: n, Max: s.cfg.MaxItems}
	}
	return out, nil
}

func joinCats(cs []dossier.Category) string {
	s := ""
	for i, c := range cs {
		if i > 0 {
			s += ","
		}
		s += string(c)
	}
	return s
}

// Grants lists a patient's grants, newest first ("Mijn toestemmingen"), each
// with the page count of its document once that is rendered.
func (s *Service) Grants(ctx context.Context, accountID string) ([]Grant, error) {
	gs, err := s.d.Store.Grants(ctx, accountID)
	if err != nil {
		return nil, err
	}
	for i, g := range gs {
		if g.ExportJobID == "" {
			continue
		}
		if job, err := s.d.Exports.Job(ctx, g.ExportJobID); err == nil && job.Status == export.StatusReady {
			gs[i].Pages = job.Pages
		}
	}
	return gs, nil
}

// Now is the service's clock (for pages that show a grant's state).
func (s *Service) Now() func() time.Time { return s.now }

// Withdraw ends a patient's active grant at once: the grant, its tokens and the
// audit record in one transaction. CheckAccess refuses from then on.
func (s *Service) Withdraw(ctx context.Context, grantID string, who Caller) error {
	if _, err := uuid.Parse(grantID); err != nil {
		return errNoGrant
	}
	return s.d.Store.InTx(ctx, func(ctx context.Context) error {
		g, err := s.d.Store.Grant(ctx, grantID)
		if err != nil || g.AccountID != who.AccountID {
			return errNoGrant
		}
		now := s.now()
		if !g.Live(now) {
			return errNotActive
		}
		ok, err := s.d.Store.EndGrant(ctx, g.ID, StateWithdrawn, now)
		if err != nil {
			return err
		}
		if !ok {
			return errNotActive
		}
		if _, err := s.d.Store.RevokeGrantTokens(ctx, g.ID, now); err != nil {
			return err
		}
		ctx = reqctx.WithIDs(ctx, reqctx.IDs{Request: reqctx.RequestID(ctx), Correlation: g.CorrelationID})
		ev := s.event(ctx, audit.ActConsentWithdrawn, who, g.ClientID)
		ev.ObjectType, ev.ObjectID = "consent", g.ID
		return s.d.Store.Audit(ctx, ev)
	})
}

var errNotActive = pgo.NewError(pgo.ECONFLICT, "consent.error.not_active", "This consent has already ended.")

var errNoGrant = pgo.NewError(pgo.ENOTFOUND, "consent.error.no_grant", "There is no such consent.")
