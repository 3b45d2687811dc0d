package accountdb_test

// Temporary until audit/auditdb lands: events are validated with the audit
// package's own rules and kept in a test table in the same transaction.

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo/audit"
)

func appendAudit(ctx context.Context, tx pgx.Tx, ev audit.Event) error {
	if err := ev.Validate(); err != nil {
		return err
	}
	b, _ := json.Marshal(ev)
	_, err := tx.Exec(ctx, `insert into test_audit (ev) values ($1)`, b)
	return err
}

func readAudit(ctx context.Context, tx pgx.Tx) ([]audit.Event, error) {
	rows, err := tx.Query(ctx, `select ev from test_audit order by n`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []audit.Event
	for rows.Next() {
		var ev audit.Event
		if err := rows.Scan(&ev); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}

const auditTable = `create table test_audit (n serial, ev jsonb)`
