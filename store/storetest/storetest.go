// Package storetest gives each test its own PostgreSQL schema with the migrations
// applied and its own Redis database number, flushed, so that test packages run in
// parallel and twice in a row against the real servers.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pgo-koppelvlak/pgo/store"
)

// BaseURL is the server the tests use: PGO_TEST_DATABASE_URL or the local default.
func BaseURL() string {
	if u := os.Getenv("PGO_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres:postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisBaseURL is the Redis server the tests use: PGO_TEST_REDIS_URL or the local default.
func RedisBaseURL() string {
	if u := os.Getenv("PGO_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379"
}

// Schema creates a fresh schema, applies the migrations in it and returns a
// connection URL whose search_path points there. The schema is dropped at cleanup.
func Schema(t testing.TB) string {
	t.Helper()
	u := EmptySchema(t)
	if _, _, err := store.Migrate(context.Background(), u); err != nil {
		t.Fatalf("storetest: migrate: %v", err)
	}
	return u
}

// EmptySchema is Schema without the migrations (for testing `pgo migrate` itself).
func EmptySchema(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	name := "t_" + sanitize(t.Name()) + "_" + randHex(4)
	conn, err := pgx.Connect(ctx, BaseURL())
	if err != nil {
		t.Fatalf("storetest: connect to PostgreSQL at %s: %v (is it running? see .ci/run)", redactURL(BaseURL()), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "create schema "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("storetest: create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), BaseURL())
		if err != nil {
			t.Errorf("storetest: cleanup connect: %v", err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "drop schema "+pgx.Identifier{name}.Sanitize()+" cascade"); err != nil {
			t.Errorf("storetest: drop schema %s: %v", name, err)
		}
	})
	return WithSearchPath(BaseURL(), name)
}

// DB returns a pool on a fresh, migrated schema (see Schema), closed at cleanup.
func DB(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), Schema(t))
	if err != nil {
		t.Fatalf("storetest: open: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// WithSearchPath returns base with search_path set as a connection parameter.
func WithSearchPath(base, schema string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// The Redis database numbers Redis hands out: RedisFirstDB..RedisLastDB. DB 0
// holds the claims; DBs 12..15 are left to the commands a developer runs beside
// the tests on the same Redis, whose defaults are `pgo bench` 12 and 13 and
// `pgo demo` 14 and 15 (cmd/pgo/bench.go and demo.go): a test flushes the DB it
// claims, and must never flush a running demo's queue.
const (
	RedisFirstDB = 1
	RedisLastDB  = 11
)

// Redis claims a Redis database number (RedisFirstDB..RedisLastDB) that no other
// running test uses, flushes it, and returns its URL; the claim is released at
// cleanup. Claims live in DB 0 with an expiry, so a crashed test run frees them
// by itself.
func Redis(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	opt, err := redis.ParseURL(RedisBaseURL() + "/0")
	if err != nil {
		t.Fatalf("storetest: redis url: %v", err)
	}
	ctl := redis.NewClient(opt)
	defer ctl.Close()
	token := randHex(8)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		for n := RedisFirstDB; n <= RedisLastDB; n++ {
			key := fmt.Sprintf("pgo-test:redis-db:%d", n)
			ok, err := ctl.SetNX(ctx, key, token, 30*time.Minute).Result()
			if err != nil {
				t.Fatalf("storetest: Redis at %s does not answer: %v (is it running? see .ci/run)", RedisBaseURL(), err)
			}
			if !ok {
				continue
			}
			u := fmt.Sprintf("%s/%d", RedisBaseURL(), n)
			o, _ := redis.ParseURL(u)
			c := redis.NewClient(o)
			err = c.FlushDB(ctx).Err()
			c.Close()
			if err != nil {
				t.Fatalf("storetest: flush redis db %d: %v", n, err)
			}
			t.Cleanup(func() {
				o, _ := redis.ParseURL(RedisBaseURL() + "/0")
				c := redis.NewClient(o)
				defer c.Close()
				if v, _ := c.Get(context.Background(), key).Result(); v == token {
					c.Del(context.Background(), key)
				}
			})
			return u
		}
		if time.Now().After(deadline) {
			t.Fatal("storetest: no free Redis database number in 2 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return b.String()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = url.User(u.User.Username())
	return u.String()
}

// Reopen opens another pool on db's schema, closed at cleanup. Its connections
// are other PostgreSQL backends, as another process's would be: `pgo serve`
// reads what the worker wrote. (A backend that wrote a large value reads it
// several times faster than any other, so a benchmark that reads through the
// writer's pool measures a case production never has.)
func Reopen(t testing.TB, db *store.DB) *store.DB {
	t.Helper()
	ctx := context.Background()
	var schema string
	if err := db.Pool.QueryRow(ctx, `select current_schema()`).Scan(&schema); err != nil {
		t.Fatalf("storetest: reopen: %v", err)
	}
	other, err := store.Open(ctx, WithSearchPath(BaseURL(), schema))
	if err != nil {
		t.Fatalf("storetest: reopen: %v", err)
	}
	t.Cleanup(other.Close)
	return other
}
