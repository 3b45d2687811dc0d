package main

import (
	"context"

	"github.com/pgo-koppelvlak/pgo/server"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transferdb"
	"github.com/pgo-koppelvlak/pgo/worker"
	"github.com/pgo-koppelvlak/pgo/zal"
)

// mountTransfer mounts the target role's pages (issue 12): choosing a source from
// the ZAL, the OAuth2 redirect_uri, the live progress page (its event stream fed by
// one LISTEN connection per process, the hub) and the received documents.
func (a *App) mountTransfer(ctx context.Context, srv *server.Server) error {
	svc, err := a.transfers()
	if err != nil {
		return err
	}
	accounts, _, err := a.accounts(ctx)
	if err != nil {
		return err
	}
	hub := transferdb.NewHub(a.DB.URL(), a.Log)
	go hub.Run(ctx)
	srv.MountTransfer(server.TransferDeps{Accounts: accounts, Transfers: svc, Hub: hub})
	return nil
}

// transfers is the transfer service of this instance: client_id and redirect_uri
// from PGO_PUBLIC_URL, the outbound client Whitelist-only over mutual TLS with
// PGO_CLIENT_CERT, trusting PGO_PEER_ROOTS (or the system roots plus PGO_CLIENT_CA).
func (a *App) transfers() (*transfer.Service, error) {
	cfg := a.Config
	roots := []string{cfg.Transfer.PeerRoots}
	if cfg.Transfer.PeerRoots == "" {
		roots = []string{cfg.ClientCA}
	}
	tlsCfg, err := transfer.ClientTLS(cfg.Transfer.ClientCert, cfg.Transfer.ClientKey, roots...)
	if err != nil {
		return nil, &exitError{code: 2, msg: "pgo: configuration: " + err.Error()}
	}
	if cfg.Transfer.ClientCert == "" {
		a.Log.Warn("PGO_CLIENT_CERT is not set: source PGOs will refuse our token and FHIR requests (mutual TLS)")
	}
	return transfer.New(transfer.Config{
		Store:  transferdb.New(a.DB, worker.NewFetchTask),
		Sealer: a.Vault,
		Lists:  a.Lists,
		Issuer: cfg.PublicURL,
		HTTP: zal.NewHTTPClient(a.Lists, zal.ClientOptions{TLSConfig: tlsCfg, DialContext: zal.DialLocalhost,
			Timeout: cfg.Transfer.RequestTimeout}),
		MaxDocumentBytes: cfg.Transfer.MaxDocumentBytes,
		RequestTimeout:   cfg.Transfer.RequestTimeout,
		PollCap:          cfg.Transfer.PollCap,
		PollTotal:        cfg.Transfer.PollTotal,
		Logger:           a.Log,
	})
}

// fetcher is what the worker's transfer:fetch handler runs. A configuration the
// service cannot be built from is logged at start, and every task then fails
// with it (retried, and the transfer failed after the last attempt), so a broken
// setting is visible instead of leaving transfers waiting silently.
func (a *App) fetcher() worker.Fetcher {
	svc, err := a.transfers()
	if err != nil {
		a.Log.Error("transfer:fetch cannot run", "err", err)
		return brokenFetcher{err}
	}
	return svc
}

type brokenFetcher struct{ err error }

func (b brokenFetcher) Fetch(context.Context, string, bool) error { return b.err }
func (b brokenFetcher) GiveUp(context.Context, string) error      { return b.err }
