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
// is a finding, and so are a record neither linked nor on the work list, an
// entry on the work list without a record (checkUnlinked) and a record copied
// under another seq (duplicateIDs). It reports the first break; an error means
// the walk itself could not be done. It links nothing.
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
	// Index walks in batches: JIT compiling them (the planner's estimate for a
	// whole-log query passes jit_above_cost) takes longer than running them.
	if _, err := tx.Exec(ctx, `set local jit = off`); err != nil {
		return res, store.Error(err)
	}
	cps, err := s.allCheckpoints(ctx, tx, opts, &res)
	if err != nil || res.Break != nil {
		return res, err
	}
	head, _, err := Head(ctx, tx)
	if err != nil {
		return res, err
	}
	keys := keysOf(chainKeys.Load())
	var anchor *audit.Anchor
	if opts.From.IsZero() {
		if anchor, res.Break, err = start(ctx, tx, keys); err != nil || res.Break != nil {
			return res, err
		}
	}
	open := opts.To.IsZero() || opts.To.After(time.Now())
	lo, hi, err := chainRange(ctx, tx, opts, open)
	if err != nil {
		return res, err
	}
	w := audit.NewWalker(anchor, cps)
	w.Keys = keys
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
	if err != nil {
		return res, err
	}
	if res.Break == nil {
		res.Break = brk
	}
	if res.Break == nil {
		res.Break, err = duplicateIDs(ctx, tx, opts)
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

// chainColumns are columns (the view audit_record's) for a walk that starts from
// audit_link l joined with audit_log a: in chain order on audit_link's index
// (link, seq).
const chainColumns = `a.id, a.seq, a.recorded, a.event_time, a.action, a.outcome, a.reason, a.person_id,
	a.actor_type, a.actor_id, a.role, a.object_type, a.object_id, a.object_hashes, a.source_ip,
	a.user_agent, a.request_id, a.correlation_id, a.details, a.mac_key, l.prev_hash, l.hash, a.mac,
	case when a.mac is not null then l.link end`

// chainFrom looks each link's record up by its key (a LATERAL subquery that
// OFFSET 0 keeps from being flattened), as the view audit_record does, so that
// a batch reads audit_link in (link, seq) order on its index and stops after
// the limit. As a plain join, over a log of several months (1,000,000 records
// in six partitions, BENCHMARKS.md round 20) the planner hash-joined all of
// audit_log with all of audit_link and sorted the result for every batch of
// 1,000 records, generic and custom plans alike: 1.0-1.8 s per batch. A link
// without its record is still left out, and the limit still counts records.
const chainFrom = ` from audit_link l cross join lateral (select id, seq, recorded, event_time, action, outcome,
	reason, person_id, actor_type, actor_id, role, object_type, object_id, object_hashes, source_ip,
	user_agent, request_id, correlation_id, details, mac_key, mac from audit_log a
	where a.seq = l.seq and a.recorded = l.recorded offset 0) a `

// chainRange is the range of chain positions to walk: for a period, from the
// first position linked among its records (a record linked late may sit among
// records of the period without being recorded in it); up to the end of the
// chain when the period is open, else to the last position among its records.
func chainRange(ctx context.Context, tx pgx.Tx, opts audit.VerifyOptions, open bool) (lo, hi int64, err error) {
	cond, args := where(audit.Filter{From: opts.From, To: opts.To})
	var min, max *int64
	// A link's recorded is its record's: the period's condition applies to it.
	err = tx.QueryRow(ctx, `select min(link), max(link) from audit_link where `+cond, args...).Scan(&min, &max)
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

// walkSQL is one batch of walkChain: the linked records after position $1 (and
// seq $2) up to position $3.
var walkSQL = `select ` + chainColumns + chainFrom + `where (l.link, l.seq) > ($1, $2) and l.link <= $3
		order by l.link, l.seq limit ` + strconv.Itoa(scanBatch)

// walkChain hands the linked records with positions lo..hi to fn in chain order,
// in keyset batches on (position, seq) so that a duplicated position is seen too.
func walkChain(ctx context.Context, tx pgx.Tx, lo, hi int64, fn func(*audit.Record) bool) error {
	lastPos, lastSeq := lo-1, int64(math.MaxInt64)
	for {
		rows, err := tx.Query(ctx, walkSQL, lastPos, lastSeq, hi)
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

// start finds what the first linked record must follow (audit.StartAnchor).
func start(ctx context.Context, tx pgx.Tx, keys audit.ChainKeys) (*audit.Anchor, *audit.Break, error) {
	var first int64
	err := tx.QueryRow(ctx, `select link from audit_link order by link limit 1`).Scan(&first)
	if errors.Is(err, pgx.ErrNoRows) {
		return &audit.Anchor{}, nil, nil // nothing linked: the head must still be the genesis
	}
	if err != nil {
		return nil, nil, store.Error(err)
	}
	// The newest prune record says where the chain starts, also when kept records
	// lie before that (linked before a dropped one).
	rows, err := tx.Query(ctx, `select `+columns+` from audit_record where action = $1 order by seq desc limit 1`, string(audit.ActAuditPruned))
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
	a, brk := audit.StartAnchor(first, prune, keys)
	return &a, brk, nil
}
