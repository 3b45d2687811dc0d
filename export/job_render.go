package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/dossier"
)

// ErrPermanent marks a rendering that can never succeed (the dossier data is
// invalid, the job does not exist): the job is failed with the reason and the task
// must not be retried. Test with errors.Is; the error also carries the *pgo.Error.
var ErrPermanent = errors.New("export: permanent failure")

type permanentError struct{ err error }

func (e *permanentError) Error() string        { return e.err.Error() }
func (e *permanentError) Unwrap() []error      { return []error{ErrPermanent, e.err} }
func (e *permanentError) Is(target error) bool { return target == ErrPermanent }

// permanent reports whether err can never go away by retrying: invalid input
// (EINVALID: the Summary or Render validation names the field) or missing data.
func permanent(err error) bool {
	switch pgo.ErrorCode(err) {
	case pgo.EINVALID, pgo.ENOTFOUND:
		return true
	}
	return false
}

// Throttle bounds progress writes: a write when Percent more of the items are done
// and Interval has passed since the last one, besides the first report and the end.
//
// Issue 16: it used to write when either came first, so every render wrote its
// job row 22 times (every 5 %), however short: with 20 transfers at a time that
// was the most frequent statement in Noord's database (pg_stat_statements: 4,400
// autocommit UPDATEs for 200 renders of 50 ms). The progress bar gains nothing
// from more than a few updates a second.
type Throttle struct {
	Percent  int
	Interval time.Duration
}

// Render renders job id and stores the sealed document. It is idempotent, as an
// asynq handler must be (DESIGN.md reliability rule): a final job is a no-op, a job
// left in rendering by a killed worker renders again, and of two renderings racing
// only one commits its document (JobStore.Finish is a compare-and-set). The document
// is sealed before the one transaction that stores it with status ready, its size
// and hashes and the document_rendered audit record, so a crash leaves either no
// document or the whole one.
//
// A permanent failure (invalid dossier data, an unknown job, a selection over
// MaxItems) fails the job with its reason and an export_failed audit record and
// returns an error matching ErrPermanent; any other error is returned as is, for
// the task to be retried.
func (j *Jobs) Render(ctx context.Context, id string) error {
	if err := checkID("job id", id); err != nil {
		return &permanentError{err}
	}
	job, err := j.store.Start(ctx, id)
	if err != nil {
		if permanent(err) {
			return &permanentError{err}
		}
		return err
	}
	if job.Status.Final() {
		return nil
	}
	if job.ConsentEnded {
		// Withdrawn or superseded before the render began: nobody may fetch
		// the document, so it is not made (no health data rendered for nothing).
		ev := j.event(job, audit.ActExportFailed)
		ev.Outcome, ev.Reason = audit.Failure, "consent_ended"
		if _, err := j.store.Fail(ctx, job.ID, ConsentEndedMessage, ev); err != nil {
			return err
		}
		return nil
	}
	var buf bytes.Buffer
	res, err := j.RenderSelection(ctx, &buf, job.UserID, job.Categories, job.Conformance, j.recorder(ctx, id))
	var incomplete *IncompleteError
	var tooLarge *TooLargeError
	switch {
	case errors.As(err, &tooLarge):
		return j.failTooLarge(ctx, job, tooLarge)
	case errors.As(err, &incomplete):
		return j.failIncomplete(ctx, job, err, incomplete.Proof)
	case err != nil && permanent(err):
		return j.fail(ctx, job, err)
	case err != nil:
		return err
	}
	sealed, err := j.sealer.Seal(id, buf.Bytes())
	if err != nil {
		return pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("seal export %s: %w", id, err), "")
	}
	ev := j.event(job, audit.ActDocumentRendered)
	ev.ObjectHashes = map[string]string{"sha256": hexSHA256(res.SHA256), "sha1": res.AttachmentHash()}
	ev.Details = map[string]string{"pages": fmt.Sprint(res.Pages), "size": fmt.Sprint(res.Size), "attempt": fmt.Sprint(job.Attempts),
		// the completeness proof (PGOK-FR022): what was checked against the PDF's text
		"proof_items": fmt.Sprint(res.Proof.Items), "proof_strings": fmt.Sprint(res.Proof.Strings),
		"proof_missing": fmt.Sprint(res.Proof.Missing)}
	_, err = j.store.Finish(ctx, id, res, sealed, ev)
	return err
}

// ConsentEndedMessage is the failure of a job whose consent ended before it was
// rendered.
const ConsentEndedMessage = "the consent ended before the document was rendered"

// The failures of a job whose dossier could not be rendered, as the job keeps
// them: the peer reads them in the Binary endpoint's OperationOutcome.
const (
	InvalidDossierMessage  = "the dossier data could not be laid out as a document"
	DossierNotFoundMessage = "the patient's dossier was not found"
)

// fail records a permanent failure: status failed with a fixed caller-safe
// message and an export_failed audit record, in one transaction. The job's
// failure goes to the peer (server/fhirbinary.go), so it never carries the
// cause's text: a validation message names the field at fault and could name a
// dossier item, whose resource id can be a BSN. The cause (for the operator's
// log) stays in the returned error.
func (j *Jobs) fail(ctx context.Context, job Job, cause error) error {
	reason := InvalidDossierMessage
	ev := j.event(job, audit.ActExportFailed)
	ev.Outcome, ev.Reason = audit.Failure, "invalid_dossier"
	if pgo.ErrorCode(cause) == pgo.ENOTFOUND {
		reason, ev.Reason = DossierNotFoundMessage, "not_found"
	}
	if _, err := j.store.Fail(ctx, job.ID, reason, ev); err != nil {
		return err // not recorded: let the task retry and record it then
	}
	return &permanentError{cause}
}

// failIncomplete records a rendering that failed its completeness proof as a
// permanent failure (the same data would fail again): status failed, an
// export_failed record with reason incomplete_document and the proof's counts.
func (j *Jobs) failIncomplete(ctx context.Context, job Job, cause error, p Proof) error {
	ev := j.event(job, audit.ActExportFailed)
	ev.Outcome, ev.Reason = audit.Failure, "incomplete_document"
	ev.Details = map[string]string{"proof_items": fmt.Sprint(p.Items), "proof_strings": fmt.Sprint(p.Strings),
		"proof_missing": fmt.Sprint(p.Missing), "attempt": fmt.Sprint(job.Attempts)}
	if _, err := j.store.Fail(ctx, job.ID, IncompleteMessage, ev); err != nil {
		return err
	}
	return &permanentError{cause}
}

// failTooLarge records a selection over the maximum as a permanent failure: status
// failed with TooLargeMessage and an export_failed record (reason too_large) that
// keeps the counts for the auditor; nothing was laid out.
func (j *Jobs) failTooLarge(ctx context.Context, job Job, cause *TooLargeError) error {
	ev := j.event(job, audit.ActExportFailed)
	ev.Outcome, ev.Reason = audit.Failure, "too_large"
	ev.Details = map[string]string{"items": fmt.Sprint(cause.Items), "max_items": fmt.Sprint(cause.Max),
		"attempt": fmt.Sprint(job.Attempts)}
	if _, err := j.store.Fail(ctx, job.ID, TooLargeMessage, ev); err != nil {
		return err
	}
	return &permanentError{cause}
}

// RenderSelection renders a user's selection as PDF/A into w: the code path of the
// background task, also used directly by `pgo export render`. progress may be nil.
// A selection of more items than MaxItems gives a *TooLargeError before anything is
// laid out (and, when the Summarizer counts, before it is loaded).
func (j *Jobs) RenderSelection(ctx context.Context, w io.Writer, userID string, cats []dossier.Category, lvl Conformance, progress Progress) (Result, error) {
	if err := j.checkCounts(ctx, userID, cats); err != nil {
		return Result{}, err
	}
	sum, err := j.dossier.Summary(ctx, userID, cats)
	if err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	// what the layout would see: the dossier may have grown since it was counted
	if err := j.checkItems(countItems(sum)); err != nil {
		return Result{}, err
	}
	return Render(w, Input{Summary: sum, Source: j.source, GeneratedAt: j.now(), Conformance: lvl, Progress: progress})
}

// recorder is the Progress of a task: it writes progress to the job row, at most
// once per Throttle step and interval, and stops the rendering when ctx ends (the task's Timeout or
// a worker shutdown). A failed progress write does not stop the rendering: progress
// is advisory, the document is what counts.
func (j *Jobs) recorder(ctx context.Context, id string) Progress {
	var mu sync.Mutex
	lastDone, lastAt := -1, time.Time{}
	return func(done, total int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		step := total * j.throttle.Percent / 100
		if lastDone >= 0 && done < total && (done-lastDone < max(step, 1) || now.Sub(lastAt) < j.throttle.Interval) {
			return nil
		}
		lastDone, lastAt = done, now
		_ = j.store.Progress(ctx, id, done, total)
		return nil
	}
}

// Document returns the decrypted PDF of a ready job and the job (size, hashes) for
// the FHIR Binary endpoint. A job that is not ready gives ECONFLICT with its status,
// so the endpoint can answer 202 + Retry-After while it renders. The bytes are
// checked against the stored size and SHA-256 before they are handed out.
func (j *Jobs) Document(ctx context.Context, id string) ([]byte, Job, error) {
	if err := checkID("job id", id); err != nil {
		return nil, Job{}, err
	}
	job, sealed, err := j.store.Document(ctx, id)
	if err != nil {
		return nil, job, err
	}
	pdf, err := j.sealer.Open(id, sealed)
	if err != nil {
		return nil, job, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("open export %s: %w", id, err), "")
	}
	if int64(len(pdf)) != job.Size || sha256.Sum256(pdf) != job.SHA256 {
		return nil, job, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("export %s: %d bytes or their SHA-256 differ from the job's", id, len(pdf)), "")
	}
	return pdf, job, nil
}

// GiveUp fails a job whose rendering kept failing with transient errors until the
// task's retries ran out, so that it does not stay in rendering forever (the Binary
// endpoint would answer 202 indefinitely). The cause goes to the log only; the job
// gets a generic reason and an export_failed record (reason retries_exhausted). A
// final job is left as it is.
func (j *Jobs) GiveUp(ctx context.Context, id string) error {
	job, err := j.Job(ctx, id)
	if err != nil || job.Status.Final() {
		return err
	}
	ev := j.event(job, audit.ActExportFailed)
	ev.Outcome, ev.Reason = audit.Failure, "retries_exhausted"
	ev.Details = map[string]string{"attempts": fmt.Sprint(job.Attempts)}
	_, err = j.store.Fail(ctx, id, "het dossier kon na herhaalde pogingen niet worden opgemaakt", ev)
	return err
}
