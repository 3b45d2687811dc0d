package auditdb

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/store"
)

// duplicateIDs finds a record id of the period that occurs more than once and
// reports its first copy: of the duplicated ids, the one whose first record
// has the lowest seq, at the seq of its second record. A record's own MAC
// (format 2) covers its id, time and content but not its seq (the store
// assigns that on insert), and the linker gives a valid link to whatever is on
// the work list: a row copied whole under a new seq and put on the list is
// linked, and the chain holds. Nothing in the schema stops the copy (the key is
// (seq, recorded); a unique index on the id would cost every append), so verify
// finds it. A copy has its original's recorded (the MAC covers it) and so lies
// in the same period.
//
// PostgreSQL groups the ids (a hash aggregate of plain counts, which spills to
// disk past work_mem), so verify's memory stays flat: a set of ids kept during
// the walk would hold every id of the log, some 400 MB for 10 million records
// in a Go map. The cost is one more read of the period's records; the seqs of
// the copied id are read only when there is one.
func duplicateIDs(ctx context.Context, tx pgx.Tx, opts audit.VerifyOptions) (*audit.Break, error) {
	cond, args := where(audit.Filter{From: opts.From, To: opts.To})
	var id string
	err := tx.QueryRow(ctx, `select id::text from audit_log where `+cond+`
		group by id having count(*) > 1 order by min(seq) limit 1`, args...).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, store.Error(err)
	}
	rows, err := tx.Query(ctx, fmt.Sprintf(`select seq from audit_log where id = $%d and %s order by seq`, len(args)+1, cond), append(args, id)...)
	if err != nil {
		return nil, store.Error(err)
	}
	seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, store.Error(err)
	}
	if len(seqs) < 2 { // cannot happen in one snapshot
		return nil, pgo.Errorf(pgo.EINTERNAL, "audit record %s: duplicated, but %d rows found", id, len(seqs))
	}
	s := make([]string, len(seqs))
	for i, q := range seqs {
		s[i] = fmt.Sprint(q)
	}
	return &audit.Break{Seq: seqs[1], ID: id, Problem: fmt.Sprintf(
		"the record id occurs %d times (seq %s): a record was copied under another seq (a replay; its own MAC does not cover the seq)",
		len(seqs), strings.Join(s, ", "))}, nil
}
