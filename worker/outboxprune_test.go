package worker

import (
	"context"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// Relayed rows older than the retention go; newer relayed rows and every
// unsent row, however old, stay.
func TestOutboxPrune(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	now := time.Now()
	for _, r := range []struct {
		id      string
		created time.Time
		sent    *time.Time
	}{
		{"00000000-0000-4000-8000-000000000001", now.Add(-30 * 24 * time.Hour), ptr(now.Add(-30 * 24 * time.Hour))},
		{"00000000-0000-4000-8000-000000000002", now.Add(-2 * time.Hour), ptr(now.Add(-2 * time.Hour))},
		{"00000000-0000-4000-8000-000000000003", now.Add(-30 * 24 * time.Hour), nil},
	} {
		if _, err := db.Pool.Exec(ctx, `insert into outbox (id, task_type, payload, created_at, sent_at) values ($1, 'x', '{}', $2, $3)`,
			r.id, r.created, r.sent); err != nil {
			t.Fatal(err)
		}
	}
	p := OutboxPrune(db, 7*24*time.Hour, time.Hour, func() time.Time { return now })
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Pool.Query(ctx, `select id::text from outbox order by id`)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		left = append(left, id[len(id)-1:])
	}
	if len(left) != 2 || left[0] != "2" || left[1] != "3" {
		t.Errorf("left %v; want the recent relayed row (2) and the unsent one (3)", left)
	}
}

func ptr[T any](v T) *T { return &v }
