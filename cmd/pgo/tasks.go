package main

import (
	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// registerTasks hands the worker the task handlers of every domain. This is the
// one place that wires concrete stores and services into the handlers.
func registerTasks(w *worker.Worker, cfg *config.Config, db *store.DB) {
	_, _, _ = w, cfg, db
}
