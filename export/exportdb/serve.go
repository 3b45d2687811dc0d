package exportdb

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/store"
)

var _ export.DocumentStore = (*Store)(nil)

// SliceSize is how many sealed bytes one query reads for a download: one vault
// stream segment (1 MiB), so memory per download stays flat whatever the size.
const SliceSize = 1 << 20

// pieceSize is how many sealed bytes one row of a slice query carries: a slice
// comes back as SliceSize/pieceSize rows of substring(sealed ...), one per piece.
// One 1 MiB value per row made each query ~5x slower in the PostgreSQL backend:
// every value over glibc's mmap threshold (128 KiB) is a fresh mmap, so the
// backend page-faulted on each of the slice's copies (perf: 35 % of its time in
// page faults) and a 20 MB document took ~220 ms; 32 KiB rows keep every
// allocation on the heap (~46 ms; 16 and 64 KiB measured the same).
const pieceSize = 32 << 10

// readAhead is how many slices a download reads ahead of the one being consumed,
// each on a connection of its own, while the pool keeps a connection spare for
// other work (spareConn); otherwise each slice is read when it is needed. Memory
// per download: readAhead + 1 slices.
//
// Issue 16: it was 0 from round 1, where reading ahead measured slower on that
// overloaded machine (BenchmarkSealedRead slices-20MB 156-220 ms with one ahead
// against 550-1,060 ms with three; BenchmarkFHIRBinary endpoint-20MB 3-5x slower
// with one ahead). On later hosts one ahead measured faster or the same, never
// slower (BENCHMARKS.md rounds 12 and 13): `pgo bench download` 20 MB 272-312
// against 233-264 MB/s (round 12); 90-113 against 78-81 MB/s with two busy loops
// on the two cores (round 13); BenchmarkSealedRead open-20MB 345 against 264 MiB/s.
const readAhead = 1

// spareConn reports whether a read-ahead may take a connection of the pool: at
// least one more stays free, so downloads reading ahead never hold every
// connection while others (a token, a consent, another download's first slice) wait.
func spareConn(acquired, maxConns int32) bool { return acquired+1 < maxConns }

// slicePool holds the slice buffers of downloads, reused across downloads
// instead of allocated per request.
var slicePool = sync.Pool{New: func() any { b := make([]byte, SliceSize); return &b }}

// sliceSQL reads the sealed bytes [$2, $2+$3) (1-based) of job $1 as pieces:
// one row per pieceSize bytes (g, the piece's index, and its bytes), with the
// document's size. substring on an EXTERNAL bytea fetches only the TOAST chunks
// of the piece (migration 009). The pieces stop at the document's end.
const sliceSQL = `select octet_length(d.sealed), g, substring(d.sealed from $2::int + g * $4::int for $4::int)
	from export_document d, generate_series(0, (least($3::int, octet_length(d.sealed) - $2::int + 1) - 1) / $4::int) g
	where d.job_id = $1`

// SealedReader reads a job's sealed document in SliceSize slices, one query each
// (as pieceSize rows), so no connection is held between reads and a slow peer
// holds no database resources. The first query also returns the size (one round
// trip before the first byte), and while one slice is consumed the next
// readAhead are read. A rewrap between two slices is harmless: it keeps the data
// key and the segments, only the key-wrapping header changes (same length).
func (s *Store) SealedReader(ctx context.Context, id string) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancel(ctx)
	r := &sliceReader{ctx: ctx, cancel: cancel, s: s, id: id, curBuf: slicePool.Get().(*[]byte)}
	first, err := r.query(0, SliceSize, *r.curBuf, true)
	if err != nil {
		r.Close()
		return nil, err
	}
	r.cur, r.off = first, int64(len(first))
	r.fill()
	return r, nil
}

type sliceReader struct {
	ctx    context.Context
	cancel context.CancelFunc
	s      *Store
	id     string
	off    int64 // sealed bytes asked for so far
	size   int64
	cur    []byte  // unread part of the current slice
	curBuf *[]byte // the buffer cur is in
	queue  []chan sliceResult
}

// sliceResult is one slice read ahead, in the buffer buf.
type sliceResult struct {
	buf *[]byte
	b   []byte
	err error
}

func (r *sliceReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		r.release()
		var res sliceResult
		switch {
		case len(r.queue) > 0:
			res = <-r.queue[0]
			r.queue = r.queue[1:]
		case r.off < r.size:
			res = r.next()() // no read-ahead: the next slice now
		default:
			return 0, io.EOF
		}
		r.curBuf = res.buf
		if res.err != nil {
			return 0, res.err
		}
		r.cur = res.b
		r.fill()
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// fill starts reading slices ahead until readAhead are in flight, none is left or
// the pool has no connection to spare.
func (r *sliceReader) fill() {
	for len(r.queue) < readAhead && r.off < r.size {
		if st := r.s.db.Pool.Stat(); !spareConn(st.AcquiredConns(), st.MaxConns()) {
			return
		}
		ch := make(chan sliceResult, 1)
		r.queue = append(r.queue, ch)
		read := r.next()
		go func() { ch <- read() }()
	}
}

// next claims the next slice and returns the outcome of reading it (run by fill
// in a goroutine of its own, or by Read directly).
func (r *sliceReader) next() func() sliceResult {
	n := min(int64(SliceSize), r.size-r.off)
	off := r.off
	r.off += n
	return func() sliceResult {
		buf := slicePool.Get().(*[]byte)
		b, err := r.query(off, n, *buf, false)
		if err == nil && int64(len(b)) != n {
			err = fmt.Errorf("export document %s: slice at %d has %d bytes, want %d", r.id, off, len(b), n)
		}
		return sliceResult{buf, b, err}
	}
}

func (r *sliceReader) release() {
	if r.curBuf != nil {
		slicePool.Put(r.curBuf)
		r.curBuf = nil
	}
	r.cur = nil
}

// query reads the n sealed bytes at off (0-based) into buf, each piece copied
// out of pgx's read buffer (DriverBytes) to its place, so a download allocates
// no slice per MiB. It checks that every piece came exactly once with its full
// length, and returns the bytes read (fewer than n only at the document's end).
// first sets r.size from the rows.
func (r *sliceReader) query(off, n int64, buf []byte, first bool) ([]byte, error) {
	rows, err := r.s.db.Pool.Query(r.ctx, sliceSQL, r.id, off+1, n, pieceSize)
	if err != nil {
		return nil, store.Error(err)
	}
	defer rows.Close()
	var (
		size, g int64
		b       pgtype.DriverBytes
		seen    uint64 // bit g: piece g arrived (SliceSize/pieceSize = 32 pieces)
		got     int64
		found   bool
	)
	for rows.Next() {
		if err := rows.Scan(&size, &g, &b); err != nil {
			return nil, store.Error(err)
		}
		found = true
		at := g * pieceSize
		if g < 0 || at >= n || seen&(1<<g) != 0 || at+int64(len(b)) > int64(len(buf)) {
			return nil, fmt.Errorf("export document %s: unexpected piece %d of the slice at %d", r.id, g, off)
		}
		seen |= 1 << g
		got += int64(copy(buf[at:], b))
	}
	if err := rows.Err(); err != nil {
		return nil, store.Error(err)
	}
	if !found && first {
		return nil, notFound(pgx.ErrNoRows, "export document")
	}
	// A later slice with no rows lies past the end of a document that shrank (or
	// went) while it was read: 0 bytes, which next reports as the slice's shortfall.
	if first {
		r.size = size
	}
	want := max(min(n, size-off), 0)
	if got != want || (want > 0 && seen != 1<<((want+pieceSize-1)/pieceSize)-1) {
		return nil, fmt.Errorf("export document %s: slice at %d has %d bytes in pieces %b, want %d", r.id, off, got, seen, want)
	}
	return buf[:got], nil
}

// Close stops the read-aheads in flight and gives the slice buffers back.
func (r *sliceReader) Close() error {
	r.cancel()
	for _, ch := range r.queue {
		res := <-ch
		slicePool.Put(res.buf)
	}
	r.queue = nil
	r.release()
	return nil
}

// RecordServed appends an audit record (a download) and moves the job's
// serve_until to until when that is later (Served), in one transaction and one
// round trip: one commit per download instead of two. A repeated download with
// the same token leaves the job row alone.
func (s *Store) RecordServed(ctx context.Context, ev audit.Event, id string, until time.Time) error {
	return store.Error(s.db.OneTrip(ctx, func(b *pgx.Batch, conn *pgx.Conn) (func(pgx.BatchResults) error, error) {
		b.Queue(`update export_job set serve_until = $2 where id = $1 and (serve_until is null or serve_until < $2)`, id, until)
		q, err := auditdb.Queue(b, conn, ev)
		if err != nil {
			return nil, err
		}
		return func(res pgx.BatchResults) error {
			if _, err := res.Exec(); err != nil {
				return err
			}
			return q.Read(res)
		}, nil
	}))
}

// Served moves the job's serve_until to until when that is later: the export is
// deleted PGO_EXPORT_GRACE after the last token that used it expired.
func (s *Store) Served(ctx context.Context, id string, until time.Time) error {
	_, err := s.db.Pool.Exec(ctx, `update export_job set serve_until = greatest(serve_until, $2) where id = $1`, id, until)
	return store.Error(err)
}

// EndGrant records that the grant holding the job ended at `at` (revoked, withdrawn,
// expired): the document is deleted PGO_EXPORT_GRACE later. The first end counts.
// For the consent side (cmd/pgo adapts it), inside its transaction when it has one.
func (s *Store) EndGrant(ctx context.Context, tx pgx.Tx, id string, at time.Time) error {
	_, err := tx.Exec(ctx, `update export_job set grant_ended_at = coalesce(grant_ended_at, $2) where id = $1`, id, at)
	return store.Error(err)
}

// Record appends one audit record in a transaction of its own (lists, downloads and
// refusals on the FHIR endpoint change no other state).
func (s *Store) Record(ctx context.Context, ev audit.Event) error {
	return store.Error(auditdb.Record(ctx, s.db, ev))
}

// DeleteExpired deletes up to limit rendered documents whose grant ended (or whose
// last token expired) before cutoff (now - PGO_EXPORT_GRACE): each deletion, the
// job's deleted_at and its export_deleted audit record commit together. The job row
// stays (no health data) for the audit trail. It returns how many it deleted.
func (s *Store) DeleteExpired(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	deleted := 0
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select `+jobColumns+` from export_job
			where deleted_at is null and status = 'ready' and coalesce(grant_ended_at, serve_until) < $1
			order by coalesce(grant_ended_at, serve_until) limit $2 for update skip locked`, cutoff, limit)
		if err != nil {
			return err
		}
		jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (export.Job, error) { return scanJob(r) })
		if err != nil {
			return err
		}
		for _, j := range jobs {
			if _, err := tx.Exec(ctx, `delete from export_document where job_id = $1`, j.ID); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `update export_job set deleted_at = now(), updated_at = now() where id = $1`, j.ID); err != nil {
				return err
			}
			ev := audit.Event{
				Action: audit.ActExportDeleted, Outcome: audit.Success, PersonID: j.UserID,
				ActorType: audit.ActorSystem, ActorID: "worker", Role: audit.RoleSource,
				ObjectType: "export", ObjectID: j.ID, RequestID: j.RequestID, CorrelationID: j.CorrelationID,
				Details: map[string]string{"reason": "grace_period_over"},
			}
			if err := auditdb.Append(ctx, tx, ev); err != nil {
				return err
			}
		}
		deleted = len(jobs)
		return nil
	})
	if err != nil {
		return 0, store.Error(err)
	}
	return deleted, nil
}
