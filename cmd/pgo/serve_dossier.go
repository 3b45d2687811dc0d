package main

import (
	"context"

	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/server"
)

// mountDossier mounts "Mijn dossier" (issue 13): the patient's own dossier and
// its PDF/A download, read through the dossier service with the vault.
func (a *App) mountDossier(ctx context.Context, srv *server.Server) error {
	svc, _, err := a.accounts(ctx)
	if err != nil {
		return err
	}
	srv.MountDossier(server.DossierDeps{Accounts: svc, Dossier: dossier.New(dossierdb.New(a.DB), a.Vault)})
	return nil
}
