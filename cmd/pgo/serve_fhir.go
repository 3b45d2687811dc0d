package main

import (
	"context"
	"time"

	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/server"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// mountFHIR mounts the source role's FHIR endpoint of gegevensdienst 51 (issue
// 11: DocumentReference, Binary, metadata under /51/fhir on the peer routes).
// Every request's bearer token is checked by the authorization server
// (consent.Service.CheckAccess), so it is off with the source role (no
// PGO_PROVIDER_NAME).
func (a *App) mountFHIR(ctx context.Context, srv *server.Server) error {
	if a.Config.Consent.ProviderName == "" {
		return nil
	}
	svc, err := a.consent()
	if err != nil {
		return err
	}
	q := a.unauthenticatedQuota()
	srv.MountFHIR(server.FHIRDeps{Access: consentAccess{svc}, Exports: a.exportServing(ctx), HoldLimit: a.Config.FHIR.HoldLimit,
		Unauthenticated: q})
	srv.Registry().MustRegister(server.UnrecordedRefusals(q.Skipped))
	return nil
}

// consentAccess adapts the authorization server's token check to what the FHIR
// endpoint asks (the same fields; the two packages do not import each other).
type consentAccess struct{ c *consent.Service }

func (f consentAccess) CheckAccess(ctx context.Context, bearer, thumbprint string) (server.FHIRAccess, error) {
	acc, err := f.c.CheckAccess(ctx, bearer, thumbprint)
	if err != nil {
		return server.FHIRAccess{}, err
	}
	return server.FHIRAccess{
		TokenID: acc.TokenID, GrantID: acc.GrantID, AccountID: acc.AccountID, ClientID: acc.ClientID,
		Scope: acc.Scope, CorrelationID: acc.CorrelationID, ExportJobID: acc.ExportJobID, ExpiresAt: acc.ExpiresAt,
	}, nil
}

// exportSealer seals export documents as vault streams (export.StreamSeal), so the
// Binary endpoint streams them; it opens and rewraps the older in-memory form too.
// The render task (exportJobs) and the export_document rewrap must both use it.
func (a *App) exportSealer() export.StreamSeal { return export.StreamSeal{V: a.Vault} }

// exportServing serves rendered exports to the FHIR endpoint. Its held Binary
// reads are woken by the render's NOTIFY (one LISTEN connection per process,
// running until ctx ends).
func (a *App) exportServing(ctx context.Context) *export.Serving {
	hub := store.NewHub(a.DB.URL(), exportdb.Channel, a.Log)
	go hub.Run(ctx)
	return export.NewServing(export.ServingConfig{
		Store:  exportdb.New(a.DB, worker.NewRenderTask),
		Opener: a.exportSealer(),
		Names:  a.dossiers(),
		Source: a.Config.InstanceName,
		Wake:   hub,
	})
}

// exportCleanup is the worker's periodic deletion of rendered exports
// PGO_EXPORT_GRACE after their grant ended (audited), every 5 minutes.
func (a *App) exportCleanup() worker.Periodic {
	return worker.ExportCleanup(exportdb.New(a.DB, worker.NewRenderTask), a.Config.FHIR.ExportGrace, 5*time.Minute, nil)
}
