package auditdb

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store"
)

// columns are what scanRecord reads, from the view audit_record (a record with
// its link, migration 016).
const columns = `id, seq, recorded, event_time, action, outcome, reason, person_id, actor_type,
	actor_id, role, object_type, object_id, object_hashes, source_ip, user_agent, request_id,
	correlation_id, details, mac_key, prev_hash, hash, mac, link`

// querier is a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func scanRecord(rows pgx.Rows) (audit.Record, error) {
	var r audit.Record
	var id [16]byte
	var action, outcome, actorType, role string
	var prev, hash, mac []byte
	var macKey int64
	var link *int64
	err := rows.Scan(&id, &r.Seq, &r.Recorded, &r.Time, &action, &outcome, &r.Reason, &r.PersonID,
		&actorType, &r.ActorID, &role, &r.ObjectType, &r.ObjectID, &r.ObjectHashes, &r.SourceIP,
		&r.UserAgent, &r.RequestID, &r.CorrelationID, &r.Details, &macKey, &prev, &hash, &mac, &link)
	if err != nil {
		return r, store.Error(err)
	}
	r.ID, r.MACKey = formatUUID(id), uint32(macKey)
	r.Action, r.Outcome, r.ActorType, r.Role = audit.Action(action), audit.Outcome(outcome), audit.ActorType(actorType), audit.Role(role)
	r.Recorded, r.Time = r.Recorded.UTC(), r.Time.UTC()
	if link != nil {
		r.Link = *link
	}
	for _, f := range []struct {
		dst *audit.Hash
		b   []byte
	}{{&r.PrevHash, prev}, {&r.Hash, hash}, {&r.MAC, mac}} {
		if f.b == nil { // not linked yet, or a format 1 record's mac
			continue
		}
		if *f.dst, err = audit.HashFromBytes(f.b); err != nil {
			return r, err
		}
	}
	return r, nil
}

func formatUUID(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// where builds the WHERE clause of f (without cursor) and its arguments.
func where(f audit.Filter) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if !f.From.IsZero() {
		add("recorded >= ?", f.From)
	}
	if !f.To.IsZero() {
		add("recorded < ?", f.To)
	}
	if len(f.Actions) > 0 {
		s := make([]string, len(f.Actions))
		for i, a := range f.Actions {
			s[i] = string(a)
		}
		add("action = any(?)", s)
	}
	if f.PersonID != "" {
		add("person_id = ?", f.PersonID)
	}
	if f.ActorID != "" {
		add("actor_id = ?", f.ActorID)
	}
	if f.ActorType != "" {
		add("actor_type = ?", string(f.ActorType))
	}
	if f.CorrelationID != "" {
		add("correlation_id = ?", f.CorrelationID)
	}
	if len(conds) == 0 {
		return "true", args
	}
	return strings.Join(conds, " and "), args
}

// checkFilter rejects what the view could send wrong.
func checkFilter(f audit.Filter) error {
	for _, a := range f.Actions {
		if !a.Valid() {
			return pgo.Errorf(pgo.EINVALID, "audit filter: action %q is not on the list", a)
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return pgo.Errorf(pgo.EINVALID, "audit filter: from must be before to")
	}
	return nil
}

// Query returns one page of records matching f, newest first, keyset-paginated on
// seq (the cursor is the seq of the last record shown).
func Query(ctx context.Context, q querier, f audit.Filter) (audit.Page, error) {
	if err := checkFilter(f); err != nil {
		return audit.Page{}, err
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	if limit > 500 {
		limit = 500
	}
	cond, args := where(f)
	if f.Cursor != "" {
		before, err := strconv.ParseInt(f.Cursor, 10, 64)
		if err != nil || before < 1 {
			return audit.Page{}, pgo.Errorf(pgo.EINVALID, "audit filter: cursor is not valid")
		}
		args = append(args, before)
		cond += " and seq < $" + strconv.Itoa(len(args))
	}
	args = append(args, limit+1)
	rows, err := q.Query(ctx, "select "+columns+" from audit_record where "+cond+
		" order by seq desc limit $"+strconv.Itoa(len(args)), args...)
	if err != nil {
		return audit.Page{}, store.Error(err)
	}
	var p audit.Page
	recs, err := collect(rows)
	if err != nil {
		return p, err
	}
	if len(recs) > limit {
		recs = recs[:limit]
		p.Next = strconv.FormatInt(recs[limit-1].Seq, 10)
	}
	p.Records = recs
	return p, nil
}

func collect(rows pgx.Rows) ([]audit.Record, error) {
	defer rows.Close()
	var out []audit.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, store.Error(rows.Err())
}

// scanBatch is how many records Scan reads per query.
const scanBatch = 1000

// Scan streams the records matching f (linked or not), oldest first, to fn. It
// reads in keyset batches (seq > last order by seq limit 1000) and stops at the
// newest seq handed out when Scan started, so memory stays flat, no transaction stays open for a whole export
// (which would hold off partition maintenance), and records appended meanwhile do not
// make the output grow under the reader. The head bound is checked here rather than
// in SQL: a "seq <= head" range lets the planner sort the whole range when a new
// partition has no statistics yet, where "order by seq limit" walks the index.
func Scan(ctx context.Context, q querier, f audit.Filter, fn func(*audit.Record) error) error {
	if err := checkFilter(f); err != nil {
		return err
	}
	maxSeq, err := lastSeq(ctx, q)
	if err != nil {
		return err
	}
	cond, args := where(f)
	args = append(args, int64(0))
	n := len(args)
	sql := fmt.Sprintf("select %s from audit_record where %s and seq > $%d order by seq limit %d",
		columns, cond, n, scanBatch)
	for {
		rows, err := q.Query(ctx, sql, args...)
		if err != nil {
			return store.Error(err)
		}
		last, count, err := each(rows, maxSeq, fn)
		if err != nil || count < scanBatch {
			return err
		}
		args[n-1] = last
	}
}

// each hands the rows up to maxSeq to fn; count < scanBatch tells Scan to stop.
func each(rows pgx.Rows, maxSeq int64, fn func(*audit.Record) error) (last int64, count int, err error) {
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return 0, 0, err
		}
		if r.Seq > maxSeq {
			return r.Seq, 0, nil
		}
		if err := fn(&r); err != nil {
			return 0, 0, err
		}
		last = r.Seq
		count++
	}
	return last, count, store.Error(rows.Err())
}

// lastSeq is the newest seq handed out (committed or not): records appended
// later have a higher one.
func lastSeq(ctx context.Context, q querier) (int64, error) {
	var n int64
	err := q.QueryRow(ctx, `select last_value from audit_log_seq`).Scan(&n)
	return n, store.Error(err)
}

// Head returns the chain head: the newest linked record's chain position and
// hash (0 and the zero hash before the first record is linked).
func Head(ctx context.Context, q querier) (audit.Anchor, time.Time, error) {
	var a audit.Anchor
	var h []byte
	var rec time.Time
	if err := q.QueryRow(ctx, `select seq, hash, recorded from audit_chain_head`).Scan(&a.Seq, &h, &rec); err != nil {
		return a, rec, store.Error(err)
	}
	var err error
	a.Hash, err = audit.HashFromBytes(h)
	return a, rec.UTC(), err
}
