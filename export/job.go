package export

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/dossier"
)

// An export job renders one patient's selection of dossier categories as a PDF/A
// document in the background (task export:render, DESIGN.md "reliability rule"): the
// consent screen requests one per grant (PGOK-FR041/FR042), the FHIR Binary endpoint
// serves the document once it is ready (gegevensdienst 51). Its states:
//
//	queued -> rendering -> ready | failed
//
// A job left in rendering by a killed worker is rendered again by the retried task;
// ready and failed are final.

// Status is where a job is in its life.
type Status string

// The job states.
const (
	StatusQueued    Status = "queued"
	StatusRendering Status = "rendering"
	StatusReady     Status = "ready"
	StatusFailed    Status = "failed"
)

// Final reports whether a job in this state will not change any more.
func (s Status) Final() bool { return s == StatusReady || s == StatusFailed }

// Job is an export as the job table holds it: no health data, only the selection,
// the state, progress and the facts of the finished document.
type Job struct {
	ID          string
	UserID      string
	Categories  []dossier.Category
	Conformance Conformance
	Status      Status
	Done, Total int // items rendered of total (progress)
	Attempts    int // renderings started
	Pages       int
	Size        int64
	SHA256      [sha256.Size]byte
	SHA1        [sha1.Size]byte // FHIR Attachment.hash (base64 via AttachmentHash)
	Failure     string          // why a failed job failed (caller-safe text)
	// Proof is the completeness proof of the ready document (PGOK-FR022): items
	// laid out, strings checked against the PDF's text, strings missing (0).
	Proof Proof
	// RequestID and CorrelationID (MedMij-Request-ID / X-Correlation-ID of the
	// request that asked for the export) go onto every audit record of the job.
	RequestID     string
	CorrelationID string
	Created       time.Time
	Started       time.Time
	Finished      time.Time
	// ConsentEnded: the consent that asked for the document has ended
	// (withdrawn, superseded, revoked or used); a job not rendered by then
	// is not rendered at all.
	ConsentEnded bool
}

// AttachmentHash is the document's SHA-1 in the base64 form of FHIR Attachment.hash.
func (j Job) AttachmentHash() string { return Result{SHA1: j.SHA1}.AttachmentHash() }

// Percent is the progress in whole percent (0 before the total is known).
func (j Job) Percent() int {
	if j.Status == StatusReady {
		return 100
	}
	if j.Total == 0 {
		return 0
	}
	return j.Done * 100 / j.Total
}

// Request asks for an export of a user's selection.
type Request struct {
	UserID      string
	Categories  []dossier.Category // at least one; keys, labels are parsed by the caller
	Conformance Conformance        // zero value: PDF/A-2b
	// Who asked: the patient (consent screen), or the system/CLI.
	ActorType audit.ActorType
	ActorID   string
	// RequestID and CorrelationID travel to the job's audit records.
	RequestID     string
	CorrelationID string
}

// JobStore is what export jobs need from PostgreSQL (implemented by exportdb). Every
// state change and its audit record commit together.
type JobStore interface {
	// Create writes the job (status queued), its audit record and the outbox row of
	// its render task in one transaction.
	Create(ctx context.Context, job Job, ev audit.Event) error
	// Job returns a job; ENOTFOUND when there is none.
	Job(ctx context.Context, id string) (Job, error)
	// Start moves a queued or rendering job to rendering (counting the attempt) and
	// returns it; a final job is returned unchanged.
	Start(ctx context.Context, id string) (Job, error)
	// Progress records items done of total for a job that is rendering.
	Progress(ctx context.Context, id string, done, total int) error
	// Finish stores the sealed document, moves the job to ready with the facts of
	// res and appends ev, in one transaction, unless the job is already final
	// (then it reports false and changes nothing).
	Finish(ctx context.Context, id string, res Result, sealed []byte, ev audit.Event) (bool, error)
	// Fail moves a job that is not final to failed with reason and appends ev, in
	// one transaction; false when it was already final.
	Fail(ctx context.Context, id string, reason string, ev audit.Event) (bool, error)
	// Document returns a ready job and its sealed document.
	Document(ctx context.Context, id string) (Job, []byte, error)
}

// Summarizer builds the Summary of a user's selection (dossier.Service). One that
// also counts (dossier.Service does: Counter) lets a rendering refuse a selection
// over the maximum before it is loaded.
type Summarizer interface {
	Summary(ctx context.Context, userID string, selected []dossier.Category) (dossier.Summary, error)
}

// Counter counts a user's dossier items per category (dossier.Service.Counts): the
// rows that become the items of a Summary's sections.
type Counter interface {
	Counts(ctx context.Context, userID string) (map[dossier.Category]int, error)
}

// DefaultMaxItems is the default of PGO_EXPORT_MAX_ITEMS: the most items one
// document may hold. The layout holds the whole document in memory, about 11 KB of
// peak heap per item (BenchmarkRender: 120 MB for 10,000 items, 451 MB for
// 40,000), so 25,000 items need about 290 MB.
const DefaultMaxItems = 25000

// Sealer encrypts documents at rest, bound to their id (vault.Vault).
type Sealer interface {
	Seal(objectID string, plaintext []byte) ([]byte, error)
	Open(objectID string, ciphertext []byte) ([]byte, error)
}

// Jobs creates, renders and serves export jobs.
type Jobs struct {
	store    JobStore
	dossier  Summarizer
	sealer   Sealer
	source   string
	now      func() time.Time
	throttle Throttle
	maxItems int
}

// JobsConfig configures Jobs.
type JobsConfig struct {
	Store   JobStore
	Dossier Summarizer
	Sealer  Sealer
	Source  string           // this PGO's name, on the cover page
	Now     func() time.Time // default time.Now
	// Throttle bounds how often progress is written (default: at most every 250 ms,
	// and only after 1 % more of the items).
	Throttle Throttle
	// MaxItems is the most items one document may hold (PGO_EXPORT_MAX_ITEMS;
	// 0: DefaultMaxItems). A larger selection is not laid out.
	MaxItems int
}

// NewJobs returns Jobs over the given parts.
func NewJobs(c JobsConfig) *Jobs {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Throttle == (Throttle{}) {
		c.Throttle = Throttle{Percent: 1, Interval: 250 * time.Millisecond}
	}
	if c.MaxItems <= 0 {
		c.MaxItems = DefaultMaxItems
	}
	return &Jobs{store: c.Store, dossier: c.Dossier, sealer: c.Sealer, source: c.Source, now: c.Now, throttle: c.Throttle,
		maxItems: c.MaxItems}
}

// Request validates r and creates a queued job together with its export_requested
// audit record and the outbox row of its render task, in one transaction: either the
// patient's request is on record and will be rendered, or nothing happened.
func (j *Jobs) Request(ctx context.Context, r Request) (Job, error) {
	job, ev, err := j.Prepare(r)
	if err != nil {
		return Job{}, err
	}
	if err := j.store.Create(ctx, job, ev); err != nil {
		return Job{}, err
	}
	return job, nil
}

// Prepare validates r and returns the new job and its export_requested audit record
// without storing them: for a caller that must create the job inside its own
// transaction (the consent grant, one job per grant) with exportdb.Store.CreateTx.
func (j *Jobs) Prepare(r Request) (Job, audit.Event, error) {
	if err := checkRequest(r); err != nil {
		return Job{}, audit.Event{}, err
	}
	job := Job{
		ID: uuid.NewString(), UserID: r.UserID, Categories: dedupe(r.Categories), Conformance: r.Conformance,
		Status: StatusQueued, RequestID: r.RequestID, CorrelationID: r.CorrelationID, Created: j.now().UTC(),
	}
	ev := j.event(job, audit.ActExportRequested)
	ev.ActorType, ev.ActorID = r.ActorType, r.ActorID
	ev.Details = map[string]string{"categories": joinCategories(job.Categories), "conformance": job.Conformance.String()}
	return job, ev, nil
}

// Job returns the state of a job (for `pgo export status` and the 202 of the Binary
// endpoint while rendering).
func (j *Jobs) Job(ctx context.Context, id string) (Job, error) {
	if err := checkID("job id", id); err != nil {
		return Job{}, err
	}
	return j.store.Job(ctx, id)
}

func checkRequest(r Request) error {
	if err := checkID("user id", r.UserID); err != nil {
		return err
	}
	if len(r.Categories) == 0 {
		return pgo.Errorf(pgo.EINVALID, "categories: select at least one")
	}
	for i, c := range r.Categories {
		if _, ok := categoryLabel(c); !ok {
			return pgo.Errorf(pgo.EINVALID, "categories[%d]: unknown category %q", i, c)
		}
	}
	if !r.Conformance.Valid() {
		return pgo.Errorf(pgo.EINVALID, "conformance: unknown level %d", int(r.Conformance))
	}
	if r.ActorType == "" || r.ActorID == "" {
		return pgo.Errorf(pgo.EINVALID, "actor: who asked for the export is missing")
	}
	return nil
}

func checkID(what, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return pgo.Errorf(pgo.EINVALID, "%s must be a UUID", what)
	}
	return nil
}

func dedupe(cs []dossier.Category) []dossier.Category {
	seen := map[dossier.Category]bool{}
	out := make([]dossier.Category, 0, len(cs))
	for _, c := range cs {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

func joinCategories(cs []dossier.Category) string {
	s := ""
	for i, c := range cs {
		if i > 0 {
			s += ","
		}
		s += string(c)
	}
	return s
}

// event is the audit record skeleton of a job: the system acts on the patient's
// export, with the ids of the request that asked for it.
func (j *Jobs) event(job Job, a audit.Action) audit.Event {
	return audit.Event{
		Time: j.now().UTC(), Action: a, Outcome: audit.Success, PersonID: job.UserID,
		ActorType: audit.ActorSystem, ActorID: "worker", Role: audit.RoleSource,
		ObjectType: "export", ObjectID: job.ID, RequestID: job.RequestID, CorrelationID: job.CorrelationID,
	}
}

func hexSHA256(b [sha256.Size]byte) string { return hex.EncodeToString(b[:]) }
