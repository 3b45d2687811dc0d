package main

import (
	"flag"
	"io"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/pgo-koppelvlak/pgo/store/storetest"
)

// The Redis DBs `pgo bench` and `pgo demo` use by default lie outside the DBs
// the tests claim and flush (storetest.Redis), and apart from each other: a
// test run beside a running demo or bench, on the same Redis, never flushes its
// queue, and a bench never flushes the demo's.
func TestRedisDefaultsOutsideTestDBs(t *testing.T) {
	if storetest.RedisFirstDB < 1 || storetest.RedisLastDB > 15 || storetest.RedisFirstDB > storetest.RedisLastDB {
		t.Fatalf("storetest hands out DBs %d..%d: want within 1..15 (DB 0 holds the claims)", storetest.RedisFirstDB, storetest.RedisLastDB)
	}
	e := &env{stdout: io.Discard, stderr: io.Discard, getenv: func(string) (string, bool) { return "", false }}
	demo, bench := flag.NewFlagSet("demo", flag.ContinueOnError), flag.NewFlagSet("bench", flag.ContinueOnError)
	(&demoOptions{}).flags(e, demo)
	(&benchOptions{}).flags(bench, 1, 1)
	seen := map[int]string{}
	for _, f := range []*flag.Flag{demo.Lookup("noord-redis"), demo.Lookup("zuid-redis"), bench.Lookup("noord-redis"), bench.Lookup("zuid-redis")} {
		o, err := redis.ParseURL(f.DefValue)
		if err != nil {
			t.Fatalf("--%s default %q: %v", f.Name, f.DefValue, err)
		}
		if o.DB >= storetest.RedisFirstDB && o.DB <= storetest.RedisLastDB {
			t.Errorf("--%s defaults to DB %d, which tests claim and flush (%d..%d)", f.Name, o.DB, storetest.RedisFirstDB, storetest.RedisLastDB)
		}
		if o.DB == 0 {
			t.Errorf("--%s defaults to DB 0, where the tests keep their claims", f.Name)
		}
		if other, ok := seen[o.DB]; ok {
			t.Errorf("--%s and %s both default to DB %d", f.Name, other, o.DB)
		}
		seen[o.DB] = "--" + f.Name
	}
}
