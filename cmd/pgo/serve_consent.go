package main

import (
	"context"
	"time"

	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/consent"
	"github.com/pgo-koppelvlak/pgo/consent/consentdb"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/server"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// mountConsent mounts the source role's authorization server (issue 10): the
// consent screen, "Mijn toestemmingen", the token and revocation endpoints, the
// metadata and the JWKS. It is off (and says so) while PGO_PROVIDER_NAME is empty;
// it needs PGO_SIGNING_KEY to sign access tokens.
func (a *App) mountConsent(ctx context.Context, srv *server.Server) error {
	if a.Config.Consent.ProviderName == "" {
		a.Log.Info("source role off: PGO_PROVIDER_NAME is not set (no consent screen, no token endpoint)")
		return nil
	}
	svc, err := a.consent()
	if err != nil {
		return err
	}
	accounts, _, err := a.accounts(ctx)
	if err != nil {
		return err
	}
	srv.MountConsent(server.ConsentDeps{Service: svc, Accounts: accounts})
	return nil
}

// consent is the authorization server over PostgreSQL, the MedMij lists, the
// dossier, the export jobs and the signing key. Its CheckAccess is what the FHIR
// endpoint asks on every request.
func (a *App) consent() (*consent.Service, error) {
	if a.built.consent != nil {
		return a.built.consent, nil
	}
	if a.Signer == nil {
		return nil, &exitError{code: 2, msg: "pgo serve: PGO_SIGNING_KEY: not set; the token endpoint signs access tokens with it " +
			"(create one with 'pgo keys signing-key --out FILE'), or leave PGO_PROVIDER_NAME empty"}
	}
	c := a.Config.Consent
	svc, err := consent.New(consent.Config{
		Issuer: a.Config.PublicURL, ProviderName: c.ProviderName, Redirects: c.Redirects(),
		RequirePKCE: c.RequirePKCE, CodeTTL: c.CodeTTL, TokenTTL: c.TokenTTL, ConsentTTL: c.ConsentTTL,
		MaxItems: a.Config.FHIR.ExportMaxItems, // what one document may hold, as the worker's exportJobs
	}, consent.Deps{
		Store:   consentdb.New(a.DB, exportdb.New(a.DB, worker.NewRenderTask)),
		Lists:   a.Lists,
		Dossier: a.dossiers(),
		Exports: a.exportJobs(),
		Signer:  a.Signer,
		// token requests without a verified certificate: audited up to a quota
		Unauthenticated: a.unauthenticatedQuota(),
	})
	a.built.consent = svc
	return svc, err
}

// unauthenticatedQuota is the one audit quota of the process's peer routes for
// requests refused without a verified client certificate (token endpoint and
// FHIR endpoint together): anyone who reaches the port can send them, so each
// source network gets 10 records a minute and all of them 300.
func (a *App) unauthenticatedQuota() *audit.Quota {
	if a.built.quota == nil {
		a.built.quota = &audit.Quota{Window: time.Minute, PerSource: 10, Total: 300}
	}
	return a.built.quota
}
