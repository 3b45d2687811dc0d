// Command op runs the example OpenID Provider of github.com/zitadel/oidc/v3 (its
// storage, login page and op package, unchanged) for the account package's tests.
// The only addition: the ID token's acr claim is taken from OP_ACR
// ("userID=acr,userID=acr"), because the example storage always leaves acr empty
// and the tests must show both an acceptable and a too-low level (OIDC Core 1.0 §2).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// acrStorage is the example storage with a per-user acr.
type acrStorage struct {
	*storage.Storage
	acr map[string]string
}

// acrRequest overrides GetACR of the example's auth request.
type acrRequest struct {
	op.AuthRequest
	acr string
}

func (a acrRequest) GetACR() string { return a.acr }

func (s acrStorage) wrap(r op.AuthRequest, err error) (op.AuthRequest, error) {
	if err != nil {
		return nil, err
	}
	return acrRequest{r, s.acr[r.GetSubject()]}, nil
}

// AuthRequestByCode is what the token endpoint reads to build the ID token.
func (s acrStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	return s.wrap(s.Storage.AuthRequestByCode(ctx, code))
}

func main() {
	// OP_ADDR is a loopback listener chosen by the test; OP_ISSUER its URL.
	ln, err := net.Listen("tcp", os.Getenv("OP_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	issuer := os.Getenv("OP_ISSUER")
	users, err := storage.StoreFromFile(os.Getenv("USERS_FILE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	storage.RegisterClients(storage.WebClient(os.Getenv("OP_CLIENT_ID"), os.Getenv("OP_CLIENT_SECRET"), strings.Split(os.Getenv("REDIRECT_URI"), ",")...))
	acr := map[string]string{}
	for _, kv := range strings.Split(os.Getenv("OP_ACR"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			acr[k] = v
		}
	}
	st := acrStorage{storage.NewStorage(users), acr}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	router := exampleop.SetupServer(issuer, st, logger, false)
	fmt.Println("listening", ln.Addr())
	if err := http.Serve(ln, router); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
