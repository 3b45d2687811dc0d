package auditdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store"
)

// Store implements audit.Reader on PostgreSQL for the auditor view and the CLI.
type Store struct {
	db   *store.DB
	keys audit.SignatureVerifier // checks checkpoint signatures; nil: none may exist
}

var _ audit.Reader = (*Store)(nil)

// New returns a Store. keys verifies checkpoint signatures (vault.SigningKey); with
// nil, Verify fails when the chain has checkpoints.
func New(db *store.DB, keys audit.SignatureVerifier) *Store { return &Store{db: db, keys: keys} }

// Query implements audit.Reader.
func (s *Store) Query(ctx context.Context, f audit.Filter) (audit.Page, error) {
	return Query(ctx, s.db.Pool, f)
}

// Scan implements audit.Scanner.
func (s *Store) Scan(ctx context.Context, f audit.Filter, fn func(*audit.Record) error) error {
	return Scan(ctx, s.db.Pool, f, fn)
}

// Status implements audit.Reader: the head and the newest checkpoint, its signature
// checked when a key is configured (ChainStatus.CheckpointVerified).
func (s *Store) Status(ctx context.Context) (audit.ChainStatus, error) {
	var st audit.ChainStatus
	head, rec, err := Head(ctx, s.db.Pool)
	if err != nil {
		return st, err
	}
	st.HeadSeq, st.HeadHash, st.HeadRecorded = head.Seq, head.Hash, rec
	var jws string
	err = s.db.Pool.QueryRow(ctx, `select jws from audit_checkpoint order by seq desc limit 1`).Scan(&jws)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return st, store.Error(err)
	}
	cp, err := s.parseCheckpoint(jws)
	st.CheckpointVerified = err == nil
	if err != nil {
		// Show what it claims, unproven: a status page must not fail on it.
		if json.Unmarshal([]byte(payloadOf(jws)), &cp) != nil {
			return st, nil
		}
		cp.JWS = jws
	}
	st.LastCheckpoint = &cp
	return st, nil
}

// parseCheckpoint checks a checkpoint's signature and returns its payload.
func (s *Store) parseCheckpoint(jws string) (audit.Checkpoint, error) {
	var cp audit.Checkpoint
	if s.keys == nil {
		return cp, pgo.Errorf(pgo.EINVALID, "the audit log has signed checkpoints but no signing key is configured (PGO_SIGNING_KEY)")
	}
	payload, err := s.keys.Verify(jws)
	if err != nil {
		return cp, err
	}
	if err := json.Unmarshal(payload, &cp); err != nil || cp.Type != audit.CheckpointType {
		return cp, fmt.Errorf("payload is not an audit checkpoint")
	}
	cp.JWS = jws
	return cp, nil
}

// checkpoints loads and checks every stored checkpoint; a bad one is a Break.
func (s *Store) checkpoints(ctx context.Context, tx pgx.Tx) ([]audit.Checkpoint, *audit.Break, error) {
	rows, err := tx.Query(ctx, `select seq, jws from audit_checkpoint order by seq`)
	if err != nil {
		return nil, nil, store.Error(err)
	}
	defer rows.Close()
	var out []audit.Checkpoint
	for rows.Next() {
		var seq int64
		var jws string
		if err := rows.Scan(&seq, &jws); err != nil {
			return nil, nil, store.Error(err)
		}
		cp, err := s.parseCheckpoint(jws)
		if pgo.ErrorCode(err) == pgo.EINVALID {
			return nil, nil, err
		}
		if err != nil || cp.Seq != seq {
			return nil, &audit.Break{Seq: seq, Problem: fmt.Sprintf("the checkpoint stored for seq %d does not carry a valid signature of this instance's key over that seq", seq)}, nil
		}
		out = append(out, cp)
	}
	return out, nil, store.Error(rows.Err())
}

// UnlinkedBound is how old a committed record may be before Verify reports that
// it is still not linked: the linker runs with every pgo serve and pgo worker and
// links within about a second (PGO_AUDIT_LINK_INTERVAL), so a record left for
// minutes means no linker is running, or it fails. Until linked, a record is
// sealed only by its own MAC: removing it whole would go unnoticed.
const UnlinkedBound = 5 * time.Minute

// Verify implements audit.Reader: it walks the linked records of the period (or
// the whole chain) in chain order in one consistent snapshot, checks every hash
// and link, every checkpoint's signature and that the chain still matches each
// checkpoint, and, when the walk reaches the end, that the chain head equals the
// last record. Then it checks each record not linked yet against its own MAC and
// reports their number and the age of the oldest; one older than UnlinkedBound
// is a finding. It reports the first break; an error means the walk itself could
// not be done. It links nothing.
func (s *Store) Verify(ctx context.Context, opts audit.VerifyOptions) (audit.VerifyResult, error) {
	var res audit.VerifyResult
	err := pgx.BeginTxFunc(ctx, s.db.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		res, err = s.verify(ctx, tx, opts)
		return err
	})
	return res, store.Error(err)
}

func (s *Store) verify(ctx context.Context, tx pgx.Tx, opts audit.VerifyOptions) (audit.VerifyResult, error) {
	var res audit.VerifyResult
	cps, err := s.allCheckpoints(ctx, tx, opts, &res)
	if err != nil || res.Break != nil {
		return res, err
	}
	head, _, err := Head(ctx, tx)
	if err != nil {
		return res, err
	}
	var anchor *audit.Anchor
	if opts.From.IsZero() {
		if anchor, res.Break, err = start(ctx, tx); err != nil || res.Break != nil {
			return res, err
		}
	}
	open := opts.To.IsZero() || opts.To.After(time.Now())
	lo, hi, err := chainRange(ctx, tx, opts, open)
	if err != nil {
		return res, err
	}
	w := audit.NewWalker(anchor, cps)
	w.Keys = keysOf(chainKeys.Load())
	if err := walkChain(ctx, tx, lo, hi, w.Add); err != nil {
		return res, err
	}
	var end *audit.Anchor
	if open {
		end = &head
	}
	res.Break = w.Finish(end)
	res.Checked, res.Checkpoints = w.Checked, w.Matched
	brk, err := checkUnlinked(ctx, tx, w, opts, &res)
	if res.Break == nil {
		res.Break = brk
	}
	return res, err
}

// allCheckpoints loads the stored and the external checkpoints, ascending.
func (s *Store) allCheckpoints(ctx context.Context, tx pgx.Tx, opts audit.VerifyOptions, res *audit.VerifyResult) ([]audit.Checkpoint, error) {
	cps, brk, err := s.checkpoints(ctx, tx)
	if err != nil || brk != nil {
		res.Break = brk
		return nil, err
	}
	for i, jws := range opts.External {
		cp, err := s.parseCheckpoint(jws)
		if pgo.ErrorCode(err) == pgo.EINVALID {
			return nil, err
		}
		if err != nil {
			return nil, pgo.Errorf(pgo.EINVALID, "external checkpoint %d: %v", i+1, err)
		}
		cps = append(cps, cp)
	}
	sort.SliceStable(cps, func(i, j int) bool { return cps[i].Seq < cps[j].Seq })
	return cps, nil
}

// pos is a record's chain position in SQL (audit.Record.Pos); the partial index
// audit_log_chain holds it for linked records.
const pos = `coalesce(link, seq)`

// chainRange is the range of chain positions to walk: for a period, from the
// first position linked among its records (a record linked late may sit among
// records of the period without being recorded in it); up to the end of the
// chain when the period is open, else to the last position among its records.
func chainRange(ctx context.Context, tx pgx.Tx, opts audit.VerifyOptions, open bool) (lo, hi int64, err error) {
	cond, args := where(audit.Filter{From: opts.From, To: opts.To})
	var min, max *int64
	err = tx.QueryRow(ctx, `select min(`+pos+`), max(`+pos+`) from audit_log where hash is not null and `+cond, args...).Scan(&min, &max)
	if err != nil {
		return 0, 0, store.Error(err)
	}
	lo, hi = 1, math.MaxInt64
	if !opts.From.IsZero() {
		lo = math.MaxInt64
		if min != nil {
			lo = *min
		}
	}
	if !open {
		hi = 0
		if max != nil {
			hi = *max
		}
	}
	return lo, hi, nil
}

// walkChain hands the linked records with positions lo..hi to fn in chain order,
// in keyset batches on (position, seq) so that a duplicated position is seen too.
func walkChain(ctx context.Context, tx pgx.Tx, lo, hi int64, fn func(*audit.Record) bool) error {
	sql := `select ` + columns + ` from audit_log where hash is not null and (` + pos + `, seq) > ($1, $2) and ` + pos +
		` <= $3 order by ` + pos + `, seq limit ` + strconv.Itoa(scanBatch)
	lastPos, lastSeq := lo-1, int64(math.MaxInt64)
	for {
		rows, err := tx.Query(ctx, sql, lastPos, lastSeq, hi)
		if err != nil {
			return store.Error(err)
		}
		recs, err := collect(rows)
		if err != nil {
			return err
		}
		for i := range recs {
			if !fn(&recs[i]) {
				return nil
			}
			lastPos, lastSeq = recs[i].Pos(), recs[i].Seq
		}
		if len(recs) < scanBatch {
			return nil
		}
	}
}

// checkUnlinked checks every record of the period that is not linked yet against
// its own MAC, counts them and finds the oldest; past UnlinkedBound that is the
// returned finding unless a record was changed.
func checkUnlinked(ctx context.Context, tx pgx.Tx, w *audit.Walker, opts audit.VerifyOptions, res *audit.VerifyResult) (*audit.Break, error) {
	cond, args := where(audit.Filter{From: opts.From, To: opts.To})
	var first, stale *audit.Break
	now := time.Now()
	err := walkUnlinked(ctx, tx, cond, args, func(r *audit.Record) {
		if b := w.AddUnlinked(r); b != nil && first == nil {
			first = b
		}
		if age := now.Sub(r.Recorded); age > res.OldestUnlinked {
			res.OldestUnlinked = age
			if age > UnlinkedBound && stale == nil {
				stale = &audit.Break{Seq: r.Seq, ID: r.ID, Problem: fmt.Sprintf(
					"not linked into the chain %s after it was recorded (bound %s): no audit linker is running (pgo serve, pgo worker) or it fails",
					age.Truncate(time.Second), UnlinkedBound)}
			}
		}
	})
	res.Unlinked = w.Unlinked
	if first == nil {
		first = stale
	}
	return first, err
}

func walkUnlinked(ctx context.Context, tx pgx.Tx, cond string, args []any, fn func(*audit.Record)) error {
	args = append(args, int64(0))
	sql := fmt.Sprintf(`select %s from audit_log where hash is null and %s and seq > $%d order by seq limit %d`, columns, cond, len(args), scanBatch)
	for {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return store.Error(err)
		}
		recs, err := collect(rows)
		if err != nil {
			return err
		}
		for i := range recs {
			fn(&recs[i])
			args[len(args)-1] = recs[i].Seq
		}
		if len(recs) < scanBatch {
			return nil
		}
	}
}

// start finds what the first linked record must follow (audit.StartAnchor).
func start(ctx context.Context, tx pgx.Tx) (*audit.Anchor, *audit.Break, error) {
	var first int64
	err := tx.QueryRow(ctx, `select `+pos+` from audit_log where hash is not null order by `+pos+` limit 1`).Scan(&first)
	if errors.Is(err, pgx.ErrNoRows) {
		return &audit.Anchor{}, nil, nil // nothing linked: the head must still be the genesis
	}
	if err != nil {
		return nil, nil, store.Error(err)
	}
	// The newest prune record says where the chain starts, also when kept records
	// lie before that (linked before a dropped one).
	rows, err := tx.Query(ctx, `select `+columns+` from audit_log where action = $1 order by seq desc limit 1`, string(audit.ActAuditPruned))
	if err != nil {
		return nil, nil, store.Error(err)
	}
	recs, err := collect(rows)
	if err != nil {
		return nil, nil, err
	}
	var prune *audit.Record
	if len(recs) == 1 {
		prune = &recs[0]
	}
	a, brk := audit.StartAnchor(first, prune)
	return &a, brk, nil
}
