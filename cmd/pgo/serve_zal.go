package main

import (
	"context"

	"github.com/pgo-koppelvlak/pgo/server"
)

// mountLists publishes the MedMij lists (issue 5) that openApp loaded: /readyz
// fails naming a list that is missing or stale, and /metrics shows their age and
// Volgnummer.
func (a *App) mountLists(_ context.Context, srv *server.Server) error {
	reg, maxAge := a.Lists, a.Config.ZAL.MaxAge
	srv.AddChecker(server.CheckFunc("medmij-lists", func(context.Context) error { return reg.Ready(maxAge) }))
	srv.Registry().MustRegister(server.ListsCollector(reg.Stats))
	return nil
}
