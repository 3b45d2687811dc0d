package storetest

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// Redis hands out DBs of its range only (12..15 belong to pgo bench and pgo
// demo), and two claims at once get two DBs.
func TestRedisRange(t *testing.T) {
	a, b := Redis(t), Redis(t)
	if a == b {
		t.Fatalf("two claims got the same DB %s", a)
	}
	for _, u := range []string{a, b} {
		o, err := redis.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		if o.DB < RedisFirstDB || o.DB > RedisLastDB {
			t.Errorf("Redis gave DB %d, want %d..%d", o.DB, RedisFirstDB, RedisLastDB)
		}
	}
}
