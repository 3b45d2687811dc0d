package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// claimRedisDBs marks the demo's Redis DB numbers as taken the way the test
// helpers do (store/storetest: a key pgo-test:redis-db:N in DB 0), so that a
// test run on the same machine does not claim and flush the running demo's
// queue. A DB a test holds right now is only warned about. The returned
// function releases what was claimed.
func claimRedisDBs(ctx context.Context, w io.Writer, urls []string) func() {
	var release []func()
	for _, u := range urls {
		opt, err := redis.ParseURL(u)
		if err != nil || opt.DB == 0 {
			continue
		}
		ctlOpt := *opt
		ctlOpt.DB = 0
		ctl := redis.NewClient(&ctlOpt)
		key, mine := "pgo-test:redis-db:"+strconv.Itoa(opt.DB), "pgo-demo:"+strconv.Itoa(os.Getpid())
		cur, err := ctl.Get(ctx, key).Result()
		if err == nil && !strings.HasPrefix(cur, "pgo-demo:") {
			fmt.Fprintf(w, "[pgo demo] warning: Redis DB %d is in use by a test run; the two may disturb each other\n", opt.DB)
			ctl.Close()
			continue
		}
		if err := ctl.Set(ctx, key, mine, 12*time.Hour).Err(); err != nil {
			ctl.Close()
			continue
		}
		release = append(release, func() {
			bg := context.Background()
			if v, _ := ctl.Get(bg, key).Result(); v == mine {
				ctl.Del(bg, key)
			}
			ctl.Close()
		})
	}
	return func() {
		for _, r := range release {
			r()
		}
	}
}
