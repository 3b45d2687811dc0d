package export

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/dossier"
)

// Serving is the export side of the FHIR endpoint of gegevensdienst 51: it waits for
// a job to be rendered (the hold of a plain Binary read), streams the document out
// of encrypted storage and describes it as a DocumentReference. It never holds a
// whole document in memory when the document was sealed as a vault stream
// (StreamSeal); an older in-memory ciphertext is opened whole.
type Serving struct {
	store  DocumentStore
	opener Opener
	names  Summarizer
	source string
	now    func() time.Time
	poll   time.Duration
	wake   Waker

	maxHolds int
	mu       sync.Mutex
	holds    map[string]int // held Awaits per job
}

// DefaultMaxHolds is how many reads of one job may be held at once (ServingConfig.MaxHolds).
// A peer's transfer holds one (a retry after a broken connection may briefly make
// it two); each held read costs a goroutine, a stream and a job read per wake-up,
// so a peer with a valid token cannot pile up thousands of them on one render.
const DefaultMaxHolds = 4

// Waker wakes a held read when its job may have become final (store.Hub on
// exportdb.Channel: the NOTIFY of the render's commit).
type Waker interface {
	// Subscribe returns a channel that receives a value after each notification
	// for the job, and the function that ends the subscription.
	Subscribe(jobID string) (<-chan struct{}, func())
}

// DocumentStore is what serving needs from PostgreSQL (exportdb.Store).
type DocumentStore interface {
	// Job returns a job; ENOTFOUND when there is none.
	Job(ctx context.Context, id string) (Job, error)
	// SealedReader reads the sealed document of a job in slices; ENOTFOUND when
	// there is none (not rendered yet, or deleted after the grace period).
	SealedReader(ctx context.Context, id string) (io.ReadCloser, error)
	// Served records that a token valid until `until` used the job: the export is
	// deleted PGO_EXPORT_GRACE after the latest such time (or after the grant ended).
	Served(ctx context.Context, id string, until time.Time) error
	// Record appends one audit record (a list, a download, a refusal).
	Record(ctx context.Context, ev audit.Event) error
	// RecordServed is Record and Served in one transaction (a list or a
	// download: one commit per request).
	RecordServed(ctx context.Context, ev audit.Event, id string, until time.Time) error
}

// Opener decrypts sealed documents (vault.Vault).
type Opener interface {
	Open(objectID string, ciphertext []byte) ([]byte, error)
	OpenReader(r io.Reader, objectID string) (io.Reader, error)
}

// ServingConfig configures Serving.
type ServingConfig struct {
	Store  DocumentStore
	Opener Opener
	// Names gives the patient's name for the DocumentReference's subject and title
	// (dossier.Service; only the patient category is read).
	Names  Summarizer
	Source string // this PGO's name: the document's author
	Now    func() time.Time
	// Wake, when set, wakes a held request when its job becomes final; it then
	// reads the job once per wake-up and every Poll as a safety net (default 1 s).
	// Without it a held request reads the job every Poll (default 50 ms).
	Wake Waker
	Poll time.Duration
	// MaxHolds bounds the reads of one job held at once (default DefaultMaxHolds);
	// a read beyond it is answered at once, as after its hold (503 or 202 with
	// Retry-After).
	MaxHolds int
}

// NewServing returns Serving over the given parts.
func NewServing(c ServingConfig) *Serving {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Poll <= 0 && c.Wake != nil {
		// Woken by the render's NOTIFY: the read every second only covers a
		// notification lost with the hub's connection (its reconnection wakes
		// every waiter as well).
		c.Poll = time.Second
	} else if c.Poll <= 0 {
		// 50 ms: one small primary-key read 20 times a second per held request,
		// against a render of a few hundred ms that a 200 ms poll missed by 100
		// ms on average (issue 16, BENCHMARKS.md).
		c.Poll = 50 * time.Millisecond
	}
	if c.MaxHolds <= 0 {
		c.MaxHolds = DefaultMaxHolds
	}
	return &Serving{store: c.Store, opener: c.Opener, names: c.Names, source: c.Source, now: c.Now, poll: c.Poll, wake: c.Wake,
		maxHolds: c.MaxHolds, holds: map[string]int{}}
}

// Job returns the job with id (ENOTFOUND when there is none, EINVALID for a bad id).
func (s *Serving) Job(ctx context.Context, id string) (Job, error) {
	if err := checkID("document id", id); err != nil {
		return Job{}, err
	}
	return s.store.Job(ctx, id)
}

// Await returns the job once it is final, or as it is when hold has passed (hold 0:
// at once). The Binary endpoint holds a plain request this way (MedMij's scripts
// accept only 200 for a read) and answers 503 + Retry-After when the render takes
// longer than PGO_HOLD_LIMIT; ctx ending (the peer went away) ends the wait.
//
// With a Waker it subscribes before the first read, so a render that commits
// between that read and the wait still wakes it; under 20 concurrent transfers
// this removed 20 job reads a second per held request (issue 16, BENCHMARKS.md).
//
// At most MaxHolds reads of one job are held at once; another is not held (hold 0).
func (s *Serving) Await(ctx context.Context, id string, hold time.Duration) (Job, error) {
	if err := checkID("document id", id); err != nil {
		return Job{}, err
	}
	if hold > 0 {
		if s.hold(id) {
			defer s.unhold(id)
		} else {
			hold = 0
		}
	}
	deadline := s.now().Add(hold)
	var woken <-chan struct{}
	if s.wake != nil && hold > 0 {
		ch, done := s.wake.Subscribe(id)
		defer done()
		woken = ch
	}
	for {
		job, err := s.store.Job(ctx, id)
		if err != nil || job.Status.Final() {
			return job, err
		}
		left := deadline.Sub(s.now())
		if left <= 0 {
			return job, nil
		}
		t := time.NewTimer(min(left, s.poll))
		select {
		case <-ctx.Done():
			t.Stop()
			return job, ctx.Err()
		case <-woken:
			t.Stop()
		case <-t.C:
		}
	}
}

// hold claims one of the job's held reads; false when MaxHolds are held.
func (s *Serving) hold(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holds[id] >= s.maxHolds {
		return false
	}
	s.holds[id]++
	return true
}

func (s *Serving) unhold(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holds[id]--; s.holds[id] <= 0 {
		delete(s.holds, id)
	}
}

// RetryAfter is the Retry-After (RFC 9110 §10.2.3) of a 202 or 503 for a job
// still rendering, answered after the request was held for held: 0 when it was
// held at least a second, else 1 s. 0 does not make a peer poll hot: every
// request that finds the job unfinished is held (and woken when the render
// commits), so one waiting peer asks at most once per hold, and its next request
// ends when the render does.
//
// Issue 16: Retry-After used to be the time left estimated from the job's pace
// so far, less the hold. Early in a render on a busy machine that pace is mostly
// the dossier's loading, so the estimate overshot: a peer slept 4 s past a
// render that finished at once (20 concurrent transfers, the slowest one's
// download stage 3.9 s; BENCHMARKS.md round 5). Before that it was at least 1 s,
// which cost up to that second per transfer.
func (s *Serving) RetryAfter(held time.Duration) time.Duration {
	if held < time.Second {
		return time.Second
	}
	return 0
}

// Open returns the plaintext PDF of a ready job as a stream, never a document
// other than the one the job row (and so the DocumentReference and the
// Content-Digest) describes. A document that declares its size and SHA-256
// (StreamSeal.Seal) is refused here, before the first byte, when they differ
// from the job's; the at-rest encryption authenticates the rest. An older
// document is hashed as it streams. Either way the stream checks the size at
// its end and fails instead of reporting EOF when it differs, so a damaged
// document is never handed out as complete. It is read ahead of its consumer
// (aheadReader): the slices and decryption of the next bytes overlap the
// network write of these.
func (s *Serving) Open(ctx context.Context, job Job) (io.ReadCloser, error) {
	if job.Status != StatusReady {
		return nil, pgo.Errorf(pgo.ECONFLICT, "the export is %s, not ready", job.Status)
	}
	rc, err := s.store.SealedReader(ctx, job.ID)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(rc, 16) // only for the Peek: larger reads pass it by
	first, err := br.Peek(1)
	if err != nil {
		rc.Close()
		return nil, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("export %s: read sealed document: %w", job.ID, err), "")
	}
	var plain io.Reader
	if first[0] == blobFormat {
		// An in-memory ciphertext (sealed before StreamSeal): AES-GCM opens only whole.
		ct, err := io.ReadAll(br)
		if err == nil {
			var pt []byte
			if pt, err = s.opener.Open(job.ID, ct); err == nil {
				plain = bytes.NewReader(pt)
			}
		}
		if err != nil {
			rc.Close()
			return nil, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("open export %s: %w", job.ID, err), "")
		}
	} else if plain, err = s.opener.OpenReader(br, job.ID); err != nil {
		rc.Close()
		return nil, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("open export %s: %w", job.ID, err), "")
	}
	d, declared, plain, err := readDeclaration(plain)
	if err != nil {
		rc.Close()
		return nil, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("open export %s: %w", job.ID, err), "")
	}
	if !declared {
		// Sealed before documents declared themselves: hashed as it is served.
		return newAheadReader(&checkedReader{r: plain, c: rc, h: sha256.New(), job: job}), nil
	}
	if d.size != job.Size || d.sum != job.SHA256 {
		rc.Close()
		return nil, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("export %s: the sealed document declares %d bytes, SHA-256 %x; the job says %d bytes, SHA-256 %x", job.ID, d.size, d.sum, job.Size, job.SHA256), "")
	}
	return newAheadReader(&checkedReader{r: plain, c: rc, job: job}), nil
}

// checkedReader counts what it passes on and compares the size at the end; with
// h set (a document without a declaration) it hashes it too and compares the
// SHA-256.
type checkedReader struct {
	r   io.Reader
	c   io.Closer
	h   hash.Hash
	n   int64
	job Job
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.h != nil {
		c.h.Write(p[:n])
	}
	c.n += int64(n)
	if err == io.EOF && (c.n != c.job.Size || c.h != nil && !bytes.Equal(c.h.Sum(nil), c.job.SHA256[:])) {
		return n, fmt.Errorf("export %s: %d bytes or their SHA-256 differ from the job's", c.job.ID, c.n)
	}
	if c.n > c.job.Size {
		return n, fmt.Errorf("export %s: longer than the job's %d bytes", c.job.ID, c.job.Size)
	}
	return n, err
}

func (c *checkedReader) Close() error { return c.c.Close() }

// PatientName returns the display name of the patient whose dossier a job holds
// ("" when the dossier names nobody): the DocumentReference's subject.display.
func (s *Serving) PatientName(ctx context.Context, userID string) (string, error) {
	if s.names == nil {
		return "", nil
	}
	sum, err := s.names.Summary(ctx, userID, []dossier.Category{dossier.CatPatient})
	if err != nil {
		return "", err
	}
	return sum.Patient.Name, nil
}

// Served records that a token valid until `until` used the job (for deletion after
// the grace period).
func (s *Serving) Served(ctx context.Context, id string, until time.Time) error {
	return s.store.Served(ctx, id, until)
}

// Record appends an audit record of the FHIR endpoint.
func (s *Serving) Record(ctx context.Context, ev audit.Event) error {
	if ev.Time.IsZero() {
		ev.Time = s.now().UTC()
	}
	return s.store.Record(ctx, ev)
}

// RecordServed appends the audit record of a list or download of job id and
// records that a token valid until `until` used it, in one transaction.
func (s *Serving) RecordServed(ctx context.Context, ev audit.Event, id string, until time.Time) error {
	if ev.Time.IsZero() {
		ev.Time = s.now().UTC()
	}
	return s.store.RecordServed(ctx, ev, id, until)
}

// Source is this PGO's name, the author of its documents.
func (s *Serving) Source() string { return s.source }
