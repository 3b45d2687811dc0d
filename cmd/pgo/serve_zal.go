package main

import (
	"context"

	"github.com/pgo-koppelvlak/pgo/server"
	"github.com/pgo-koppelvlak/pgo/zal"
	"github.com/pgo-koppelvlak/pgo/zal/zaldb"
)

func init() {
	// MedMij lists (issue 5): loaded at start (persisted copies first, so a restart
	// without network still has lists), refreshed in the background, published to
	// /metrics, and /readyz fails naming a list that is missing or stale.
	registerServeHook("zal", func(ctx context.Context, w *serveWiring) error {
		reg := zalRegistry(w.Config, zaldb.New(w.DB), w.Log)
		if err := reg.Load(ctx); err != nil {
			w.Log.Warn("MedMij lists: not all configured lists are available; /readyz reports them", "err", err)
		}
		w.Lists = reg
		maxAge := w.Config.ZAL.MaxAge
		w.Server.AddChecker(server.CheckFunc("medmij-lists", func(context.Context) error { return reg.Ready(maxAge) }))
		w.Server.Registry().MustRegister(server.ListsCollector(reg.Stats))
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { reg.Run(rctx); close(done) }()
		w.OnClose(func() { cancel(); <-done })
		return nil
	})
}

// listsRegistry is what later hooks (consent, transfer) use of the MedMij lists.
type listsRegistry = *zal.Registry
