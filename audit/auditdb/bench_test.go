package auditdb

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// openWide opens a fresh schema with a pool large enough for conns concurrent
// writers (the default pool has only max(4, CPUs) connections).
func openWide(t testing.TB, conns int) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), storetest.Schema(t)+fmt.Sprintf("&pool_max_conns=%d", conns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// BenchmarkAppend measures committed appends per second (one record per
// transaction, as Record does) with 1 and 16 concurrent writers, beside a
// baseline of the same transactions with a one-row insert into an unchained table
// instead, and prints the ratio chain/baseline per writer count. A linker runs
// during the chain cases (its cost is in the numbers), and a probe samples the age
// of the oldest unlinked record every 20 ms: max-unlinked-ms is how far behind the
// linker fell. chain+notify/writers=16 adds a NOTIFY to each appending
// transaction, as a LISTEN/NOTIFY wake-up of the linker would: it shows why the
// linker is not woken that way (NOTIFY serializes the commits).
// samerow/writers=16 writes the same record into an unchained copy of audit_log
// (same columns and indexes, no partitions, triggers or linker): chain against
// samerow is what the chain itself costs. nolink/writers=16 is the chain's
// append without a linker running (records stay unlinked): chain against nolink
// is the linker's share.
func BenchmarkAppend(b *testing.B) {
	rates := map[string]float64{}
	for _, c := range []struct {
		name    string
		writers int
		kind    string
	}{
		{"baseline/writers=1", 1, "plain"}, {"chain/writers=1", 1, "chain"},
		{"baseline/writers=16", 16, "plain"}, {"chain/writers=16", 16, "chain"},
		{"samerow/writers=16", 16, "samerow"}, {"nolink/writers=16", 16, "nolink"},
		{"chain+notify/writers=16", 16, "notify"},
	} {
		b.Run(c.name, func(b *testing.B) {
			db := openWide(b, c.writers+4)
			write := appendWriter(b, db, c.kind)
			stop := func() time.Duration { return 0 }
			linked := c.kind == "chain" || c.kind == "notify" // the cases with a linker running
			if linked {
				stop = startLinker(b, db)
			}
			b.ResetTimer()
			start := time.Now()
			runWriters(b, c.writers, write)
			rate := float64(b.N) / time.Since(start).Seconds()
			b.StopTimer()
			lag := stop()
			b.ReportMetric(rate, "appends/s")
			if linked {
				b.ReportMetric(float64(lag.Milliseconds()), "max-unlinked-ms")
			}
			rates[c.name] = rate
		})
	}
	for _, w := range []string{"1", "16"} {
		chain, base := rates["chain/writers="+w], rates["baseline/writers="+w]
		if base > 0 {
			fmt.Printf("append ratio, writers=%s: chain %.0f/s, baseline %.0f/s, ratio %.0f%%\n", w, chain, base, 100*chain/base)
		}
	}
	if chain, same := rates["chain/writers=16"], rates["samerow/writers=16"]; same > 0 {
		fmt.Printf("chain cost, writers=16: chain %.0f/s, same row unchained %.0f/s, ratio %.0f%%\n", chain, same, 100*chain/same)
	}
}

// appendWriter returns the transaction one benchmark iteration commits.
func appendWriter(b *testing.B, db *store.DB, kind string) func(i int) error {
	ctx := context.Background()
	switch kind {
	case "plain":
		if _, err := db.Pool.Exec(ctx, "create table bench_plain (id bigint, payload text)"); err != nil {
			b.Fatal(err)
		}
		return func(i int) error {
			return db.WithTx(ctx, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, "insert into bench_plain values ($1, $2)", i, "document_fetched")
				return err
			})
		}
	case "samerow":
		// The same sealed record into a copy of audit_log with the same columns
		// and indexes but no partitions, no triggers and no linker: what the
		// record costs without the chain, to tell the chain's share of the gap
		// to the baseline from the row's own (its width and seven indexes).
		if _, err := db.Pool.Exec(ctx, "create table bench_samerow (like audit_log including defaults including indexes)"); err != nil {
			b.Fatal(err)
		}
		sql := "insert into bench_samerow (" + recordColumns + ") values (" + recordRow(0) + ") returning seq, recorded"
		return func(i int) error {
			r, err := seal(event(i), time.Time{})
			if err != nil {
				return err
			}
			return db.WithTx(ctx, func(tx pgx.Tx) error {
				return tx.QueryRow(ctx, sql, insertArgs(r)...).Scan(&r.Seq, &r.Recorded)
			})
		}
	case "notify":
		return func(i int) error {
			return db.WithTx(ctx, func(tx pgx.Tx) error {
				if err := Append(ctx, tx, event(i)); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, "select pg_notify('audit_link', '')")
				return err
			})
		}
	}
	return func(i int) error { return Record(ctx, db, event(i)) }
}

// runWriters runs b.N iterations of write spread over writers goroutines.
func runWriters(b *testing.B, writers int, write func(int) error) {
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		n := b.N / writers
		if w < b.N%writers {
			n++
		}
		wg.Add(1)
		go func(w, n int) {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if err := write(w*1000000 + i); err != nil {
					errs <- err
					return
				}
			}
		}(w, n)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// lagProbe samples the age of the oldest unlinked record until stop is closed and
// returns the largest it saw.
func lagProbe(db *store.DB, stop <-chan struct{}) time.Duration {
	var worst time.Duration
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return worst
		case <-t.C:
		}
		var age float64
		err := db.Pool.QueryRow(context.Background(),
			`select coalesce(extract(epoch from clock_timestamp() - min(recorded)), 0)::float8 from audit_pending`).Scan(&age)
		if err == nil {
			worst = max(worst, time.Duration(age*float64(time.Second)))
		}
	}
}

// seedBulk writes n chained records and their links with COPY (link triggers off,
// as only a test may),
// much faster than n transactions.
func seedBulk(b testing.TB, db *store.DB, n int) {
	ctx := context.Background()
	rows := make([][]any, 0, n)
	var prev audit.Hash
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := 1; i <= n; i++ {
		r := audit.Record{Event: event(i).Normalize(now), ID: fmt.Sprintf("00000000-0000-7000-8000-%012d", i), Seq: int64(i), Recorded: now, PrevHash: prev}
		r.Seal(nil)
		prev = r.Hash
		rows = append(rows, []any{r.ID, r.Seq, r.Recorded, r.Time, string(r.Action), string(r.Outcome), r.Reason,
			r.PersonID, string(r.ActorType), r.ActorID, string(r.Role), r.ObjectType, r.ObjectID, r.ObjectHashes,
			r.SourceIP, r.UserAgent, r.RequestID, r.CorrelationID, r.Details, r.PrevHash[:], r.Hash[:]})
	}
	err := db.WithTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "alter table audit_log disable trigger audit_log_link"); err != nil {
			return err
		}
		cols := []string{"id", "seq", "recorded", "event_time", "action", "outcome", "reason", "person_id", "actor_type",
			"actor_id", "role", "object_type", "object_id", "object_hashes", "source_ip", "user_agent", "request_id",
			"correlation_id", "details", "prev_hash", "hash"}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_log"}, cols, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "alter table audit_link disable trigger audit_link_follows"); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit_link"}, []string{"link", "seq", "recorded", "prev_hash", "hash"},
			pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
				r := rows[i]
				return []any{r[1], r[1], r[2], r[19], r[20]}, nil
			})); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "alter table audit_link enable trigger audit_link_follows"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "update audit_chain_head set seq = $1, hash = $2, recorded = $3", int64(n), prev[:], now); err != nil {
			return err
		}
		// COPY gives the seqs itself: move the sequence past them, as appends
		// would have (Scan stops at its last value).
		if _, err := tx.Exec(ctx, "select setval('audit_log_seq', $1)", int64(n)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "alter table audit_log enable trigger audit_log_link")
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, "analyze audit_log, audit_link"); err != nil {
		b.Fatal(err)
	}
}

// heapProbe wraps a Scanner and samples the live heap every 1000 records.
type heapProbe struct {
	audit.Scanner
	peak uint64
}

func (h *heapProbe) Scan(ctx context.Context, f audit.Filter, fn func(*audit.Record) error) error {
	var n int
	var ms runtime.MemStats
	return h.Scanner.Scan(ctx, f, func(r *audit.Record) error {
		if n++; n%1000 == 0 {
			runtime.ReadMemStats(&ms)
			h.peak = max(h.peak, ms.HeapAlloc)
		}
		return fn(r)
	})
}

// BenchmarkExport streams 10,000 and 100,000 records as FHIR AuditEvents (NDJSON
// and Bundle) and reports records/s and the peak heap while exporting: the peak is
// the same for both sizes, because only one batch of 1000 records is held at a time.
func BenchmarkExport(b *testing.B) {
	ctx := context.Background()
	for _, n := range []int{10000, 100000} {
		db := openWide(b, 4)
		seedBulk(b, db, n)
		for _, format := range []string{"ndjson", "bundle"} {
			b.Run(fmt.Sprintf("%s/records=%d", format, n), func(b *testing.B) {
				export := audit.ExportNDJSON
				if format == "bundle" {
					export = audit.ExportBundle
				}
				runtime.GC()
				probe := &heapProbe{Scanner: New(db, nil)}
				b.ResetTimer()
				start := time.Now()
				for i := 0; i < b.N; i++ {
					got, err := export(ctx, io.Discard, probe, audit.Filter{}, testSource)
					if err != nil || got != int64(n) {
						b.Fatalf("exported %d, %v", got, err)
					}
				}
				b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "records/s")
				b.ReportMetric(float64(probe.peak)/(1<<20), "peak-heap-MB")
			})
		}
	}
}

// BenchmarkVerify walks a chain of 100,000 records (pgo audit verify without a
// period) and reports records/s: the chain walk joins each link to its record,
// and the records without a link are looked for over the whole log.
func BenchmarkVerify(b *testing.B) {
	const n = 100000
	db := openWide(b, 4)
	seedBulk(b, db, n)
	s := New(db, nil)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		res, err := s.Verify(context.Background(), audit.VerifyOptions{})
		if err != nil || res.Break != nil || res.Checked != n {
			b.Fatalf("verify: %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "records/s")
}
