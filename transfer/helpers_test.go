package transfer_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transferdb"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
	"github.com/pgo-koppelvlak/pgo/zal"
)

// exampleDocs returns the MedMij portability example: the PDF inside the STU3
// Binary and the DocumentReference that lists it.
func exampleDocs(t testing.TB) (pdf, docRef []byte) {
	t.Helper()
	raw, err := os.ReadFile(shared.Path("medmij", "examples", "_port-Binary-XXX-Rijn.json"))
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Content []byte `json:"content"`
	}
	if err := json.Unmarshal(raw, &b); err != nil || len(b.Content) == 0 {
		t.Fatalf("example Binary: %v", err)
	}
	docRef, err = os.ReadFile(shared.Path("medmij", "examples", "_port-DocumentReference-XXX-Rijn.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b.Content, docRef
}

// env is one target PGO (real PostgreSQL schema, real vault) and one test source.
type env struct {
	ca    *transfertest.CA
	db    *store.DB
	store *transferdb.Store
	svc   *transfer.Service
	src   *transfertest.Source
	pdf   []byte
	actor transfer.Actor
}

func newEnv(t *testing.T, whitelisted bool, tune func(*transfer.Config)) *env {
	t.Helper()
	ca := transfertest.NewCA(t)
	pdf, docRef := exampleDocs(t)
	src := transfertest.NewSource(t, ca, pdf, docRef)
	src.Redirect = transfertest.TargetURL + transfer.CallbackPath
	lists := transfertest.Lists(t, src, whitelisted)
	db := storetest.DB(t)
	v, _ := vaulttest.New(t)
	st := transferdb.New(db, func(id string) store.Task { return store.Task{Type: "transfer:fetch", Payload: []byte(id)} })
	cfg := transfer.Config{
		Store: st, Sealer: v, Lists: lists, Issuer: transfertest.TargetURL,
		MaxDocumentBytes: 8 << 20, PollCap: 5 * time.Millisecond, PollTotal: 200 * time.Millisecond,
		Backoff: []time.Duration{time.Millisecond, 2 * time.Millisecond},
	}
	if tune != nil {
		tune(&cfg)
	}
	// The client's own bound on a request: 10 s, or a longer RequestTimeout as
	// pgo gives it (so that a test of a long request sees the service's bounds).
	cfg.HTTP = zal.NewHTTPClient(lists, zal.ClientOptions{TLSConfig: ca.ClientTLS(t, "doel.localhost"),
		DialContext: zal.DialLocalhost, Timeout: max(10*time.Second, cfg.RequestTimeout)})
	svc, err := transfer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{ca: ca, db: db, store: st, svc: svc, src: src, pdf: pdf,
		actor: transfer.Actor{UserID: uuid.NewString(), SessionID: "session-" + uuid.NewString(), IP: "192.0.2.1", RequestID: uuid.NewString()}}
}

// authorize starts a transfer from bron and returns it with the authorization
// request's query, as the browser would follow it.
func (e *env) authorize(t *testing.T) (transfer.Transfer, url.Values) {
	t.Helper()
	ctx := context.Background()
	tr, err := e.svc.Start(ctx, e.actor, "bron@medmij")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Status != transfer.StatusCreated {
		t.Fatalf("start: status %s (%s: %s)", tr.Status, tr.Failure, tr.FailureDetail)
	}
	raw, err := e.svc.AuthorizeURL(ctx, e.actor, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return tr, u.Query()
}

// consent runs the browser part: authorize, the source issues a code for the PKCE
// challenge, the callback comes back with state, code and iss.
func (e *env) consent(t *testing.T) transfer.Transfer {
	t.Helper()
	_, q := e.authorize(t)
	code := e.src.IssueCode(q.Get("code_challenge"))
	tr, err := e.svc.HandleCallback(context.Background(), e.actor,
		transfer.Callback{State: q.Get("state"), Code: code, Iss: e.src.URL, HasIss: true})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// fetch runs the worker's part once, as the last attempt.
func (e *env) fetch(t *testing.T, id string) transfer.Transfer {
	t.Helper()
	_ = e.svc.Fetch(context.Background(), id, true)
	return e.get(t, id)
}

func (e *env) get(t *testing.T, id string) transfer.Transfer {
	t.Helper()
	tr, err := e.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// documents counts stored documents of the transfer.
func (e *env) documents(t *testing.T, id string) int {
	t.Helper()
	var n int
	if err := e.db.Pool.QueryRow(context.Background(), `select count(*) from transfer_document where transfer_id = $1`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// audit returns (action, step, outcome, correlation id) of the transfer's audit rows.
func (e *env) audit(t *testing.T, id string) [][4]string {
	t.Helper()
	rows, err := e.db.Pool.Query(context.Background(), `select action, coalesce(details->>'step', ''), outcome, correlation_id
		from audit_log where object_id = $1 order by seq`, id)
	if err != nil {
		t.Fatal(err)
	}
	var out [][4]string
	for rows.Next() {
		var r [4]string
		if err := rows.Scan(&r[0], &r[1], &r[2], &r[3]); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// open reads a stored document back through the service (decrypting it).
func (e *env) open(t *testing.T, id string) []byte {
	t.Helper()
	docs, err := e.svc.Documents(context.Background(), e.actor.UserID, id)
	if err != nil || len(docs) != 1 {
		t.Fatalf("documents: %d, %v", len(docs), err)
	}
	_, r, err := e.svc.OpenDocument(context.Background(), e.actor.UserID, docs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var _ = http.StatusOK
