package transfer

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// ErrPermanent marks a fetch error that no later attempt of the task can change
// (the worker wraps it in asynq.SkipRetry).
var ErrPermanent = errors.New("transfer: permanent")

// Fetch is the worker's part of a transfer (task transfer:fetch): list, download,
// verify, store, revoke. It is idempotent: a transfer that is done or failed is
// left alone, one that is stored only needs its token revoked, and one a killed
// worker left in listing, downloading or verifying starts over from the list
// (nothing was stored yet). last says that the task will not run again: a
// passing failure then fails the transfer (with "Opnieuw proberen" using the same
// token) instead of waiting for the next attempt.
//
// Each call is a run that owns the transfer: the step into listing claims it
// for a new run id, and every later change of this run applies only while the
// transfer is still its own (Store). A run that another one (a task recovered
// or sent again while this one still ran) claimed the transfer from stops
// quietly at its next change: it never fails or moves the newer attempt, and
// never revokes the token that one uses.
func (s *Service) Fetch(ctx context.Context, id string, last bool) error {
	t, err := s.c.Store.Get(ctx, id)
	if pgo.ErrorCode(err) == pgo.ENOTFOUND {
		return errors.Join(ErrPermanent, err)
	}
	if err != nil {
		return err
	}
	switch t.Status {
	case StatusDone, StatusFailed, StatusCreated, StatusAuthorizing:
		return nil
	case StatusStored:
		// Stored is no run's to take: whoever finds it only finishes it.
		return s.finish(ctx, t, "")
	}
	ctx = reqctx.WithIDs(ctx, reqctx.IDs{Request: reqctx.NewID(), Correlation: t.CorrelationID})
	run := uuid.NewString()
	ok, err := s.c.Store.Step(ctx, id, run, []Status{StatusAuthorized, StatusListing, StatusDownloading, StatusVerifying},
		StatusListing, s.runEvent(t, run, audit.ActDocumentListed, StatusListing))
	if err != nil || !ok {
		return err
	}
	t.Status = StatusListing
	token, err := s.token(ctx, t)
	if err != nil {
		return s.ended(ctx, t, run, fail(ReasonInternal, "the stored token did not open"), true)
	}
	got, f := s.fetchAll(ctx, &t, run, token)
	if f != nil {
		return s.ended(ctx, t, run, f, last)
	}
	if f := s.store(ctx, &t, run, got); f != nil {
		return s.ended(ctx, t, run, f, last)
	}
	return s.finish(ctx, t, run)
}

// fetchAll lists and downloads every document, moving t through listing,
// downloading and verifying as run; it returns the verified documents.
func (s *Service) fetchAll(ctx context.Context, t *Transfer, run, token string) ([]received, *Failure) {
	docs, f := s.list(ctx, *t, token)
	if f != nil {
		return nil, f
	}
	var announced int64
	for _, d := range docs {
		announced += d.Size
	}
	ev := s.runEvent(*t, run, audit.ActDocumentListed, StatusDownloading)
	ev.Details["documents"] = strconv.Itoa(len(docs))
	if ok, err := s.c.Store.Step(ctx, t.ID, run, []Status{StatusListing}, StatusDownloading, ev); err != nil || !ok {
		return nil, storeFailure(err)
	}
	t.Status = StatusDownloading
	p := &progress{s: s, id: t.ID, run: run, total: len(docs), bytesTotal: announced}
	p.write(ctx, true)
	got := make([]received, 0, len(docs))
	for _, d := range docs {
		r, f := s.download(ctx, token, d, func(n int64) { p.add(ctx, n) })
		if f != nil {
			return nil, f
		}
		got = append(got, r)
		p.write(ctx, true) // bytes only: a document counts as done once verified and stored
	}
	ev = s.runEvent(*t, run, audit.ActDocumentFetched, StatusVerifying)
	if ok, err := s.c.Store.Step(ctx, t.ID, run, []Status{StatusDownloading}, StatusVerifying, ev); err != nil || !ok {
		return nil, storeFailure(err)
	}
	t.Status = StatusVerifying
	for _, r := range got {
		if f := s.verify(r); f != nil {
			return nil, f
		}
	}
	return got, nil
}

// store seals every verified document and moves the transfer to stored with them,
// in one transaction with the audit record that carries their hashes, while the
// transfer is run's.
func (s *Service) store(ctx context.Context, t *Transfer, run string, got []received) *Failure {
	docs := make([]StoredDocument, 0, len(got))
	hashes := map[string]string{}
	now := s.c.Now().UTC()
	for i, r := range got {
		d, f := s.seal(*t, r, now)
		if f != nil {
			return f
		}
		docs = append(docs, d)
		if i < 8 {
			hashes["sha256."+strconv.Itoa(i)] = hex.EncodeToString(d.SHA256)
		}
	}
	ev := s.runEvent(*t, run, audit.ActDocumentFetched, StatusStored)
	ev.ObjectHashes = hashes
	ev.Details["documents"] = strconv.Itoa(len(docs))
	// Lost (superseded): another run claimed the transfer since this one
	// verified; its documents count, ours are dropped, and it finishes.
	ok, err := s.c.Store.StoreDocuments(ctx, t.ID, run, docs, ev)
	if err != nil || !ok {
		return storeFailure(err)
	}
	t.Status = StatusStored
	return nil
}

// seal encrypts one verified document as a vault stream under a new document id,
// bound to the account and the transfer it is stored for (BindingAccount).
func (s *Service) seal(t Transfer, r received, now time.Time) (StoredDocument, *Failure) {
	s1, s256 := r.sums.sha1, r.sums.sha256 // taken while the bytes came in
	d := Document{ID: uuid.NewString(), TransferID: t.ID, UserID: t.UserID, RemoteID: r.ref.ID,
		Source: t.Source, SourceDisplay: t.SourceDisplay, Title: r.ref.Title, ContentType: "application/pdf",
		Size: int64(len(r.pdf)), SHA1: s1[:], SHA256: s256[:], CorrelationID: t.CorrelationID, Received: now,
		Binding: BindingAccount}
	var buf bytes.Buffer
	buf.Grow(sealedSize(len(r.pdf)))
	w, err := s.c.Sealer.SealWriter(&buf, d.ObjectID())
	if err == nil {
		_, err = w.Write(r.pdf)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return StoredDocument{}, fail(ReasonInternal, "sealing the document failed")
	}
	return StoredDocument{Document: d, Sealed: buf.Bytes()}, nil
}

// sealedSize is room for a vault stream of n plaintext bytes: header, a 16-byte
// tag per 1 MiB segment, and slack, so the buffer is allocated once, not grown.
func sealedSize(n int) int { return n + (n/(1<<20)+2)*16 + 1024 }

// finish revokes the token at the source (RFC 7009; a failed revocation is
// recorded, the token dies at its expiry anyway) and moves stored to done; run
// is the run that stored the documents, or empty for a transfer found stored
// (after a crash, by GiveUp). No run claims a stored transfer, so the token
// revoked here is one no newer run uses: whoever finishes it, it is done.
func (s *Service) finish(ctx context.Context, t Transfer, run string) error {
	ctx = reqctx.WithIDs(ctx, reqctx.IDs{Request: reqctx.NewID(), Correlation: t.CorrelationID})
	revoked := "false"
	if token, err := s.token(ctx, t); err == nil && token != "" {
		if err := s.revoke(ctx, t, token); err == nil {
			revoked = "true"
		} else {
			s.c.Logger.WarnContext(ctx, "transfer: revoking the token failed", "transfer", t.ID, "err", err)
		}
	}
	ev := s.runEvent(t, run, audit.ActTransferCompleted, StatusDone)
	ev.Details["token_revoked"] = revoked
	// The step to done drops the token in the same statement.
	_, err := s.c.Store.Step(ctx, t.ID, run, []Status{StatusStored}, StatusDone, ev)
	return err
}

// ended handles a failure of run: a passing one is returned for the task to
// retry unless this is the last attempt; otherwise the transfer fails with its
// reason while it is still run's, and then a token no retry will use is
// revoked. A run that lost the transfer to a newer one (superseded, or its Fail
// lost) stops quietly and leaves the transfer and its token to that one.
func (s *Service) ended(ctx context.Context, t Transfer, run string, f *Failure, last bool) error {
	if f == superseded {
		s.c.Logger.InfoContext(ctx, "transfer: another run moved the transfer on; this one stops", "transfer", t.ID)
		return nil
	}
	if f.Transient && !last {
		return f
	}
	// Read before the Fail, which forgets the token; revoked only after the
	// Fail won, so never while a newer run holds the transfer.
	var token string
	if RetryFor(f.Reason) != RetrySame {
		token, _ = s.token(ctx, t)
	}
	won, err := s.markFailed(ctx, t, run, nil, f)
	if err != nil {
		return err
	}
	if !won {
		s.c.Logger.InfoContext(ctx, "transfer: another run claimed the transfer or it ended; this one stops", "transfer", t.ID)
		return nil
	}
	if token != "" {
		_ = s.revoke(ctx, t, token) // best effort; the token expires anyway
	}
	return errors.Join(ErrPermanent, f)
}

// GiveUp ends a transfer that its task will not move on any more: after the
// task's last attempt ended in an error that is not a Failure (the database was
// gone, say), or when the worker's stalled-work sweep finds the task archived
// (its worker was killed during the last attempt). A stored transfer has its
// documents, so it is finished (token revoked, done), not failed; any other
// unfinished one fails with "Opnieuw proberen".
func (s *Service) GiveUp(ctx context.Context, id string) error {
	t, err := s.c.Store.Get(ctx, id)
	if err != nil || t.Status.Final() {
		return err
	}
	if t.Status == StatusStored {
		return s.finish(ctx, t, "")
	}
	_, err = s.markFailed(ctx, t, "", nil, fail(ReasonInternal, "the fetch task gave up"))
	return err
}

// token opens the transfer's access token for t's account under the binding it
// was sealed with. The documents a fetch stores are bound to that same
// t.UserID, so a transfer moved to another account by SQL either fails here
// (moved before t was read) or stores them for the account the token belongs to.
func (s *Service) token(ctx context.Context, t Transfer) (string, error) {
	sec, err := s.c.Store.Secrets(ctx, t.ID)
	if err != nil || sec.TokenSealed == nil {
		return "", err
	}
	b, err := s.c.Sealer.Open(secretObjectID(sec.Binding, t.UserID, t.ID, "token"), sec.TokenSealed)
	return string(b), err
}

// runEvent is the audit record of a change run makes: s.event with the run's id
// in its Details (audit.DetailRun), so that the records of two attempts of one
// transfer that interleave (a task recovered while the old run still ran) can
// be told apart. A change that is no run's (run empty) names none.
func (s *Service) runEvent(t Transfer, run string, a audit.Action, step Status) audit.Event {
	ev := s.event(t, a, step)
	if run != "" {
		ev.Details[audit.DetailRun] = run
	}
	return ev
}

// superseded is the failure of a run whose compare-and-set was lost: another run
// of the same transfer (a task recovered while this one still ran) claimed it or
// moved it on, so this run stops quietly and leaves the transfer to that one.
var superseded = &Failure{Reason: ReasonInternal, Detail: "another run of this transfer moved it on"}

// storeFailure turns a lost compare-and-set into superseded and a database error
// into a failure the task retries.
func storeFailure(err error) *Failure {
	if err == nil {
		return superseded
	}
	return transient(ReasonInternal, "the database did not take the change")
}

// progress writes the downloaded bytes of run at most every 250 ms, only while
// the transfer is that run's (Store.Progress). Documents done stay 0 while
// downloading: StoreDocuments counts them, with the verified documents, in the
// transaction that stores them, so a document failing verification never shows
// as done.
type progress struct {
	s                 *Service
	id, run           string
	mu                sync.Mutex
	total             int
	bytes, bytesTotal int64
	last              time.Time
}

func (p *progress) add(ctx context.Context, n int64) {
	p.bytes += n
	p.write(ctx, false)
}

func (p *progress) write(ctx context.Context, force bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !force && time.Since(p.last) < 250*time.Millisecond {
		return
	}
	p.last = time.Now()
	total := max(p.bytesTotal, p.bytes)
	if err := p.s.c.Store.Progress(ctx, p.id, p.run, p.total, p.bytes, total); err != nil {
		p.s.c.Logger.WarnContext(ctx, "transfer: progress not written", "transfer", p.id, "err", err)
	}
}
