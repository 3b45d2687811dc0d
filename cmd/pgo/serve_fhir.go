package main

import (
	"context"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/server"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// fhirArea is the mount of the source role's FHIR endpoint of gegevensdienst 51
// (issue 11: DocumentReference, Binary, metadata under /51/fhir on the peer routes)
// with access as its token check: the consent area's CheckAccess adapted to
// server.AccessChecker field by field (the contract in COMMON.md). In mountAreas:
//
//	{"fhir", a.fhirArea(consentAccess{a.consentService()})},
func (a *App) fhirArea(access server.AccessChecker) func(context.Context, *server.Server) error {
	return func(_ context.Context, srv *server.Server) error {
		srv.MountFHIR(server.FHIRDeps{Access: access, Exports: a.exportServing(), HoldLimit: a.Config.FHIR.HoldLimit})
		return nil
	}
}

// exportSealer seals export documents as vault streams (export.StreamSeal), so the
// Binary endpoint streams them; it opens and rewraps the older in-memory form too.
// The render task (exportJobs) and the export_document rewrap must both use it.
func (a *App) exportSealer() export.StreamSeal { return export.StreamSeal{V: a.Vault} }

// exportServing serves rendered exports to the FHIR endpoint.
func (a *App) exportServing() *export.Serving {
	return export.NewServing(export.ServingConfig{
		Store:  exportdb.New(a.DB, worker.NewRenderTask),
		Opener: a.exportSealer(),
		Names:  a.dossiers(),
		Source: a.Config.InstanceName,
	})
}

// exportCleanup is the worker's periodic deletion of rendered exports
// PGO_EXPORT_GRACE after their grant ended (audited), every 5 minutes.
func (a *App) exportCleanup() worker.Periodic {
	return worker.ExportCleanup(exportdb.New(a.DB, worker.NewRenderTask), a.Config.FHIR.ExportGrace, 5*time.Minute, nil)
}

// noConsentYet refuses every token: the FHIR endpoint is mounted (its routes answer
// 401 with an OperationOutcome) until the consent area's CheckAccess is wired in its
// place in mountAreas.
type noConsentYet struct{}

func (noConsentYet) CheckAccess(context.Context, string, string) (server.FHIRAccess, error) {
	return server.FHIRAccess{}, pgo.Errorf(pgo.EUNAUTHORIZED, "no consent area: no token is valid")
}
