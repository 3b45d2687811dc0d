package main

import (
	"context"
	"time"

	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/server"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// mountFHIR mounts the FHIR STU3 endpoint of gegevensdienst 51 (issue 11) on
// the peer routes: every request's bearer token is checked by the authorization
// server (consent.Service.CheckAccess), so it comes after mountConsent and is
// off with it (no PGO_PROVIDER_NAME: no source role).
func (a *App) mountFHIR(_ context.Context, srv *server.Server) error {
	if a.Config.Consent.ProviderName == "" {
		return nil
	}
	svc, err := a.consent()
	if err != nil {
		return err
	}
	srv.MountFHIR(server.FHIRDeps{
		Access:    fhirAccess{svc},
		Exports:   a.exportServing(),
		HoldLimit: a.Config.FHIR.HoldLimit,
	})
	return nil
}

// exportServing streams rendered exports out of encrypted storage.
func (a *App) exportServing() *export.Serving {
	return export.NewServing(export.ServingConfig{
		Store:  exportdb.New(a.DB, worker.NewRenderTask),
		Opener: a.Vault,
		Names:  a.dossiers(),
		Source: a.Config.InstanceName,
	})
}

// exportCleanup deletes rendered exports PGO_EXPORT_GRACE after their grant
// ended (a worker periodic job).
func (a *App) exportCleanup() worker.Periodic {
	return worker.ExportCleanup(exportdb.New(a.DB, worker.NewRenderTask), a.Config.FHIR.ExportGrace, time.Minute, nil)
}

// fhirAccess adapts the authorization server's token check to what the FHIR
// endpoint asks (the transfer contract: the same fields, two packages that do
// not import each other).
type fhirAccess struct{ c *consent.Service }

func (f fhirAccess) CheckAccess(ctx context.Context, bearer, thumbprint string) (server.FHIRAccess, error) {
	acc, err := f.c.CheckAccess(ctx, bearer, thumbprint)
	if err != nil {
		return server.FHIRAccess{}, err
	}
	return server.FHIRAccess{
		TokenID: acc.TokenID, GrantID: acc.GrantID, AccountID: acc.AccountID, ClientID: acc.ClientID,
		Scope: acc.Scope, CorrelationID: acc.CorrelationID, ExportJobID: acc.ExportJobID, ExpiresAt: acc.ExpiresAt,
	}, nil
}
