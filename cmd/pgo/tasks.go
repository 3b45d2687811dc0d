package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"

	"github.com/pgo-koppelvlak/pgo/account/accountdb"
	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/transfer/transferdb"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// registerTasks hands the worker the task handlers of every domain, built from
// the App like the areas of pgo serve.
func (a *App) registerTasks(w *worker.Worker) {
	w.Handle(worker.TypeExportRender, worker.HandleRenderTask(a.exportJobs()))
	w.Handle(worker.TypeKeysRewrap, worker.HandleRewrapTask(rewrapTargets(a.DB, a.Vault), a.Log))
	w.Handle(worker.TypeTransferFetch, worker.HandleFetchTask(a.fetcher()))
}

// dossiers is the dossier service over PostgreSQL and the vault.
func (a *App) dossiers() *dossier.Service { return dossier.New(dossierdb.New(a.DB), a.Vault) }

// exportJobs is the export service over PostgreSQL and the vault: the same one for
// the worker, pgo serve and `pgo export`.
func (a *App) exportJobs() *export.Jobs {
	return export.NewJobs(export.JobsConfig{
		Store:   exportdb.New(a.DB, worker.NewRenderTask),
		Dossier: a.dossiers(),
		Sealer:  a.exportSealer(), // vault streams, so the FHIR Binary endpoint streams them (serve_fhir.go)
		Source:  a.Config.InstanceName,
		// the same bound the consent screen applies (serve_consent.go)
		MaxItems: a.Config.FHIR.ExportMaxItems,
	})
}

// rewrapTargets lists every table of sealed objects (and keyed lookup keys) that a
// key rotation must move.
func rewrapTargets(db *store.DB, v *vault.Vault) []worker.RewrapTarget {
	dossiers, exports := dossierdb.New(db), exportdb.New(db, worker.NewRenderTask)
	accounts := accountdb.New(db, auditdb.Append)
	return []worker.RewrapTarget{
		{Name: "account_totp", Batch: func(ctx context.Context, after string, limit int) (worker.RewrapBatch, error) {
			r, err := accounts.RewrapTOTP(ctx, v, after, limit)
			return worker.RewrapBatch{Next: r.Next, Moved: r.Moved, Raced: r.Raced, Failed: r.Failed}, err
		}},
		{Name: "account_totp_pending", Batch: func(ctx context.Context, after string, limit int) (worker.RewrapBatch, error) {
			r, err := accounts.RewrapPendingTOTP(ctx, v, after, limit)
			return worker.RewrapBatch{Next: r.Next, Moved: r.Moved, Raced: r.Raced, Failed: r.Failed}, err
		}},
		// rows sealed with the bare row id (before migration 025) bound to their account;
		// first, since the re-seal also puts them under the primary key
		{Name: "dossier_resource_binding", Batch: func(ctx context.Context, after string, limit int) (worker.RewrapBatch, error) {
			r, err := dossier.New(dossiers, v).Rebind(ctx, dossiers, after, limit)
			return worker.RewrapBatch{Next: r.Next, Moved: r.Moved, Raced: r.Raced, Failed: r.Failed}, err
		}},
		{Name: "dossier_resource", Batch: func(ctx context.Context, after string, limit int) (worker.RewrapBatch, error) {
			r, err := dossiers.Rewrap(ctx, v, after, limit)
			return worker.RewrapBatch{Next: r.Next, Moved: r.Moved, Raced: r.Raced, Failed: r.Failed}, err
		}},
		// ref keys made with an older key (or unkeyed, before issue 15) to the primary's
		{Name: "dossier_ref_key", Batch: func(ctx context.Context, after string, limit int) (worker.RewrapBatch, error) {
			r, err := dossier.New(dossiers, v).ReKey(ctx, dossiers, after, limit)
			return worker.RewrapBatch{Next: r.Next, Moved: r.Moved, Raced: r.Raced, Failed: r.Failed}, err
		}},
		{Name: "export_document", Batch: func(ctx context.Context, after string, limit int) (worker.RewrapBatch, error) {
			// documents are megabytes: smaller batches keep the memory flat
			r, err := exports.RewrapDocuments(ctx, export.StreamSeal{V: v}, after, max(1, limit/10)) // streams and older objects
			return worker.RewrapBatch{Next: r.Next, Moved: r.Moved, Raced: r.Raced, Failed: r.Failed}, err
		}},
		// received documents sealed with their bare id (before migration 026) bound to
		// their account and transfer; first, since the re-seal also puts them under the primary key
		{Name: "transfer_document_binding", Batch: func(ctx context.Context, after string, limit int) (worker.RewrapBatch, error) {
			r, err := transferdb.New(db, worker.NewFetchTask).ResealDocuments(ctx, v, after, max(1, limit/10))
			return worker.RewrapBatch{Next: r.Next, Moved: r.Moved, Raced: r.Raced, Failed: r.Failed}, err
		}},
		{Name: "transfer_document", Batch: func(ctx context.Context, after string, limit int) (worker.RewrapBatch, error) {
			r, err := transferdb.New(db, worker.NewFetchTask).RewrapDocuments(ctx, v, after, max(1, limit/10))
			return worker.RewrapBatch{Next: r.Next, Moved: r.Moved, Raced: r.Raced, Failed: r.Failed}, err
		}},
	}
}

var keysRewrapCmd = &command{
	name:    "rewrap",
	summary: "Move dossier rows, documents and TOTP seeds sealed under older keys to the primary key (after keys rotate), and bind rows sealed before the account binding to their account.",
	usage:   "[--batch N] [--queue]",
	run:     keysRewrap,
}

// keysRewrap runs the keys:rewrap task's work now (or, with --queue, hands it to
// pgo worker through the outbox) and prints what moved per table.
func keysRewrap(ctx context.Context, e *env, fs *flag.FlagSet, args []string) error {
	batch := fs.Int("batch", 200, "rows per batch")
	queue := fs.Bool("queue", false, "enqueue the keys:rewrap task for pgo worker instead of running it here")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 0 || *batch < 1 {
		return usageError(fs, "takes no arguments and a --batch of at least 1")
	}
	a, err := openApp(ctx, e, "keys rewrap", e.stderr, needDB|needVault)
	if err != nil {
		return err
	}
	defer a.Close()
	db, v := a.DB, a.Vault
	if *queue {
		return queueRewrap(ctx, e, db, *batch)
	}
	totals, err := worker.Rewrap(ctx, rewrapTargets(db, v), *batch, nil)
	for _, t := range totals {
		fmt.Fprintf(e.stdout, "%-26s moved %d, changed meanwhile %d, failed %d (primary key %d)\n", t.Name, t.Moved, t.Raced, t.Failed, v.PrimaryKeyID())
	}
	if err != nil {
		return &exitError{code: 1, msg: "pgo keys rewrap: " + pgo.ErrorMessage(err)}
	}
	for _, t := range totals {
		if t.Failed > 0 {
			return &exitError{code: 1, msg: fmt.Sprintf("pgo keys rewrap: %d rows of %s did not open or could not be written; they are left as they were", t.Failed, t.Name)}
		}
	}
	return nil
}

// queueRewrap writes the keys:rewrap task into the outbox for pgo worker.
func queueRewrap(ctx context.Context, e *env, db *store.DB, batch int) error {
	var id string
	err := db.WithTx(ctx, func(tx pgx.Tx) error {
		u, err := store.Enqueue(ctx, tx, worker.NewRewrapTask(batch))
		id = u.String()
		return err
	})
	if err != nil {
		return &exitError{code: 1, msg: "pgo keys rewrap: " + pgo.ErrorMessage(err)}
	}
	fmt.Fprintf(e.stdout, "queued %s task %s\n", worker.TypeKeysRewrap, id)
	return nil
}

// stalledWork is the periodic sweep that ends exports and transfers no task
// drives any more (the worker was killed during the task's last attempt, or
// Redis lost the task), asking the queue through its inspector.
func (a *App) stalledWork() (worker.Periodic, error) {
	in, err := worker.NewInspector(a.Config.RedisURL)
	if err != nil {
		return worker.Periodic{}, err
	}
	a.onClose(func() { in.Close() })
	return worker.StalledSweep(a.DB, in, []worker.Stalled{
		{Type: worker.TypeExportRender, Task: worker.NewRenderTask,
			Unfinished: exportdb.New(a.DB, worker.NewRenderTask).Unfinished, GiveUp: a.exportJobs().GiveUp},
		{Type: worker.TypeTransferFetch, Task: worker.NewFetchTask,
			Unfinished: transferdb.New(a.DB, worker.NewFetchTask).Unfinished, GiveUp: a.fetcher().GiveUp},
	}, worker.StalledQuiet, worker.StalledEvery, a.Log, nil), nil
}
