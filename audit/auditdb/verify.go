package auditdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
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

var errStop = errors.New("stop")

// Verify implements audit.Reader: it walks the records of the period (or the whole
// chain) in one consistent snapshot, checks every hash and link, every checkpoint's
// signature and that the chain still matches each checkpoint, and, when the walk
// reaches the end, that the chain head equals the last record. It reports the first
// break; an error means the walk itself could not be done.
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
	cps, brk, err := s.checkpoints(ctx, tx)
	if err != nil || brk != nil {
		res.Break = brk
		return res, err
	}
	for i, jws := range opts.External {
		cp, err := s.parseCheckpoint(jws)
		if pgo.ErrorCode(err) == pgo.EINVALID {
			return res, err
		}
		if err != nil {
			return res, pgo.Errorf(pgo.EINVALID, "external checkpoint %d: %v", i+1, err)
		}
		cps = append(cps, cp)
	}
	sort.SliceStable(cps, func(i, j int) bool { return cps[i].Seq < cps[j].Seq })
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
	w := audit.NewWalker(anchor, cps)
	w.Keys = keysOf(chainKeys.Load())
	err = Scan(ctx, tx, audit.Filter{From: opts.From, To: opts.To}, func(r *audit.Record) error {
		if !w.Add(r) {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return res, err
	}
	var end *audit.Anchor
	if opts.To.IsZero() || opts.To.After(time.Now()) {
		end = &head
	}
	res.Break = w.Finish(end)
	res.Checked, res.Checkpoints = w.Checked, w.Matched
	return res, nil
}

// start finds what the first stored record must follow (audit.StartAnchor).
func start(ctx context.Context, tx pgx.Tx) (*audit.Anchor, *audit.Break, error) {
	var first int64
	err := tx.QueryRow(ctx, `select seq from audit_log order by seq limit 1`).Scan(&first)
	if errors.Is(err, pgx.ErrNoRows) {
		return &audit.Anchor{}, nil, nil // empty: the head must still be the genesis
	}
	if err != nil {
		return nil, nil, store.Error(err)
	}
	var prune *audit.Record
	if first != 1 {
		rows, err := tx.Query(ctx, `select `+columns+` from audit_log where action = $1 order by seq desc limit 1`, string(audit.ActAuditPruned))
		if err != nil {
			return nil, nil, store.Error(err)
		}
		recs, err := collect(rows)
		if err != nil {
			return nil, nil, err
		}
		if len(recs) == 1 {
			prune = &recs[0]
		}
	}
	a, brk := audit.StartAnchor(first, prune)
	return &a, brk, nil
}
