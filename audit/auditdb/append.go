// Package auditdb stores the audit log (package audit) in PostgreSQL: the one write
// path Append, the auditor queries, verification, signed checkpoints and retention.
package auditdb

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store"
)

// Append writes ev as a new record inside the caller's transaction: the state
// change and its audit record commit together or not at all. It fills ev.Time
// (UTC, microseconds) when zero, validates the event (closed action list, outcome
// with reason, actor; audit.Event.Validate), seals the record with its own MAC
// over its content (audit.Record.SealContent, keyed with the chain key), so that
// it is tamper-evident from the moment it commits, and inserts it; the record's
// seq comes from the sequence audit_log_seq (the link hash covers it).
//
// Append takes no shared lock (issue 16): it does not link the record into the
// chain. A Linker does that shortly after commit, in commit order, in a
// transaction of its own (see linker.go). Before, Append locked the one chain head
// row until the caller committed, so every auditing transaction waited for the one
// before it to commit (BenchmarkAppend: 16 writers reached 7-13% of the same
// transactions without the chain). A rolled-back transaction leaves no record
// (its seq is a gap, which is normal); a late commit is linked late. Append
// nudges this process's linker (the record is usually committed by the time the
// linker looks; if not, the next nudge or tick links it).
func Append(ctx context.Context, tx pgx.Tx, ev audit.Event) error {
	_, err := appendAt(ctx, tx, ev, time.Time{})
	return err
}

// Record writes one audit record in a transaction of its own, for events that
// change no other state (audit_viewed, login_failed, ...).
func Record(ctx context.Context, db *store.DB, ev audit.Event) error {
	return db.WithTx(ctx, func(tx pgx.Tx) error { return Append(ctx, tx, ev) })
}

// appendAt is Append with the store clock replaced by at when not zero (tests write
// records "in the past" to exercise retention). The record it returns has no seq
// (the database gives it).
func appendAt(ctx context.Context, tx pgx.Tx, ev audit.Event, at time.Time) (*audit.Record, error) {
	r, err := seal(ev, at)
	if err != nil {
		return nil, err
	}
	if err := insert(ctx, tx, r); err != nil {
		return nil, err
	}
	nudge()
	return r, nil
}

// seal makes ev a new record at at (now when zero) with its own MAC.
func seal(ev audit.Event, at time.Time) (*audit.Record, error) {
	if err := ev.Normalize(time.Now()).Validate(); err != nil {
		return nil, err
	}
	now := at
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC().Truncate(time.Microsecond)
	id, err := uuid.NewV7()
	if err != nil {
		return nil, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	r := &audit.Record{Event: ev.Normalize(now), ID: id.String(), Recorded: now}
	keys := chainKeys.Load()
	if keys != nil {
		r.MACKey = (*keys).primary
	}
	if err := r.SealContent(keysOf(keys)); err != nil {
		return nil, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	return r, nil
}

const recordColumns = `id, seq, recorded, event_time, action, outcome, reason,
	person_id, actor_type, actor_id, role, object_type, object_id, object_hashes, source_ip,
	user_agent, request_id, correlation_id, details, mac_key, mac`

// recordParams is how many parameters one record takes (insertArgs).
const recordParams = 20

// domainParams are the parameters (numbered within a record) whose column has a
// domain type (migration 029), with their base type. Without the cast PostgreSQL
// would describe the parameter as the domain, which pgx does not know, so pgx
// would send the value as text for the domain's input function to parse on every
// row (issue 16: about 3 % of all CPU in BenchmarkAppend); with it the value
// travels in the base type's binary form and only the domain's check runs.
var domainParams = map[int]string{5: "text", 8: "text", 10: "text", 19: "bigint", 20: "bytea"}

// recordRow is one record's row of recordColumns, its parameters numbered from
// off+1 (seq comes from the sequence).
func recordRow(off int) string {
	vs := make([]string, 0, recordParams+1)
	for i := 1; i <= recordParams; i++ {
		v := "$" + strconv.Itoa(off+i)
		if t, ok := domainParams[i]; ok {
			v += "::" + t
		}
		vs = append(vs, v)
		if i == 1 {
			vs = append(vs, "nextval('audit_log_seq')")
		}
	}
	return strings.Join(vs, ",")
}

// statementRecords is at most how many records one insert statement writes
// (PostgreSQL takes at most 65,535 parameters per statement).
const statementRecords = 256

// insertSQL writes n records and puts them on the linker's work list
// (audit_pending), all in one statement. One statement for the records of a
// transaction (a token's code_redeemed and token_issued, say) rather than one
// each: PostgreSQL prepares audit_log's insert trigger condition, its indexes
// and its partition routing once per statement (issue 16: ExecConstraints alone,
// when the rules were CHECK constraints, was 11 % of the backends' CPU on the
// token endpoint). It returns no rows: nothing after the append needs a
// record's seq (the linker reads it from the work list), and sending the rows
// back and matching them to the records was 7 % of BenchmarkAppend's client
// CPU; the count of work-list rows it inserted is the check that every record
// was written. The texts for 1 to 8 records are made once; pgx prepares each
// text once per connection.
func insertSQL(n int) string {
	if n <= len(insertSQLs) {
		return insertSQLs[n-1]
	}
	return buildInsertSQL(n)
}

var insertSQLs = func() (s [8]string) {
	for i := range s {
		s[i] = buildInsertSQL(i + 1)
	}
	return s
}()

func buildInsertSQL(n int) string {
	var b strings.Builder
	b.WriteString("with r as (insert into audit_log (" + recordColumns + ")\n\tvalues ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		b.WriteString(recordRow(i * recordParams))
		b.WriteByte(')')
	}
	b.WriteString("\n\treturning seq, recorded)\n" +
		"insert into audit_pending (seq, recorded) select seq, recorded from r")
	return b.String()
}

// partitionsSeen remembers, per database (connection string) and month, that
// audit_ensure_partition found or made the month's partition, so that the
// following appends of the month skip that call. Partitions are only dropped
// when five years old (Prune); one dropped by hand makes the next append of its
// month fail once, and forgets it here.
var partitionsSeen sync.Map

// insert sends the partition check (the first time per month) and the row in
// one round trip.
func insert(ctx context.Context, tx pgx.Tx, r *audit.Record) error {
	b := &pgx.Batch{}
	q := queue(b, tx.Conn(), []*audit.Record{r})
	res := tx.SendBatch(ctx, b)
	defer res.Close()
	if err := q.Read(res); err != nil {
		return err
	}
	return store.Error(res.Close())
}

// Queued is audit records queued into a pgx batch by Queue, to be read back
// (Read) from the batch's results in the order they were queued.
type Queued struct {
	keys    []string // partition check queued for these database|month keys
	months  []string // the database|month keys of the records
	records []*audit.Record
}

// Queue seals evs as new records and queues their inserts (with the partition
// check the first time per month) into b, which the caller sends on conn inside
// the transaction that makes the state change they record, together with that
// change: one round trip for the change and its records. The caller reads the
// records' results with Read after its own statements queued before them, and
// before those queued after them.
func Queue(b *pgx.Batch, conn *pgx.Conn, evs ...audit.Event) (*Queued, error) {
	rs := make([]*audit.Record, 0, len(evs))
	for _, ev := range evs {
		r, err := seal(ev, time.Time{})
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return queue(b, conn, rs), nil
}

func queue(b *pgx.Batch, conn *pgx.Conn, rs []*audit.Record) *Queued {
	q := &Queued{records: rs}
	cs := conn.Config().ConnString()
	for _, r := range rs {
		key := cs + "|" + r.Recorded.Format("200601")
		q.months = append(q.months, key)
		if _, seen := partitionsSeen.Load(key); !seen && !slices.Contains(q.keys, key) {
			q.keys = append(q.keys, key)
			b.Queue(`select audit_ensure_partition($1)`, r.Recorded)
		}
	}
	for part := range slices.Chunk(rs, statementRecords) {
		args := make([]any, 0, len(part)*recordParams)
		for _, r := range part {
			args = append(args, insertArgs(r)...)
		}
		b.Queue(insertSQL(len(part)), args...)
	}
	return q
}

// insertArgs are insertSQL's parameters for r.
func insertArgs(r *audit.Record) []any {
	return []any{r.ID, r.Recorded, r.Time, string(r.Action), string(r.Outcome), r.Reason,
		r.PersonID, string(r.ActorType), r.ActorID, string(r.Role), r.ObjectType, r.ObjectID,
		jsonMap(r.ObjectHashes), r.SourceIP, r.UserAgent, r.RequestID, r.CorrelationID,
		jsonMap(r.Details), int64(r.MACKey), r.MAC[:]}
}

// Read reads the results of the queued records (the partition checks, then the
// inserts, one per statementRecords records) and nudges the linker.
func (q *Queued) Read(res pgx.BatchResults) error {
	for range q.keys {
		if _, err := res.Exec(); err != nil {
			return store.Error(err)
		}
	}
	for part := range slices.Chunk(q.records, statementRecords) {
		if err := readInserted(res, len(part)); err != nil {
			for _, k := range q.months {
				partitionsSeen.Delete(k)
			}
			return err
		}
	}
	for _, k := range q.keys {
		partitionsSeen.Store(k, true)
	}
	nudge()
	return nil
}

// readInserted reads the result of one insert statement of n records: each
// record is on the work list, so the statement inserted n rows there.
func readInserted(res pgx.BatchResults, n int) error {
	tag, err := res.Exec()
	if err != nil {
		return store.Error(err)
	}
	if tag.RowsAffected() != int64(n) {
		return pgo.Errorf(pgo.EINTERNAL, "audit insert wrote %d of %d records", tag.RowsAffected(), n)
	}
	return nil
}

// jsonMap stores an empty map as SQL NULL, so that nil and empty read back alike.
func jsonMap(m map[string]string) any {
	if len(m) == 0 {
		return nil
	}
	return m
}
