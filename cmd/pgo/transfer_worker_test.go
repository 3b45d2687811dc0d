package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo/audit/auditdb"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transferdb"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
	"github.com/pgo-koppelvlak/pgo/worker"
	"github.com/pgo-koppelvlak/pgo/zal"
)

// The real `pgo worker` is killed (SIGKILL) while it downloads a document from a
// slow source: nothing is stored; after a restart asynq recovers the task and the
// transfer completes once, with one document that decrypts to the source's bytes.
//
// The progress stream (what the patient's page follows: LISTEN/NOTIFY through
// transferdb.Hub) goes on after the restart to done with every byte counted, and
// `pgo audit verify` accepts the chain (issue 17, fault injection).
//
// Slow by nature (1-2 minutes): asynq recovers a task only after its lease
// (30 s) expired 30 s ago, on a one-minute tick; PGO_WORKER_RETRY_DELAY cuts
// the retry's own wait to a second.
func TestTransferSurvivesKilledWorker(t *testing.T) {
	dir := t.TempDir()
	certDir := devCerts(t, "doel.localhost")
	ca := transfertest.NewCA(t)
	devCA, err := os.ReadFile(filepath.Join(certDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AppendCertsFromPEM(devCA)
	pdf, docRef := exampleTransferDocs(t)
	src := transfertest.NewSourceTrusting(t, ca, clientCAs, pdf, docRef)
	src.Redirect = transfertest.TargetURL + transfer.CallbackPath
	roots := filepath.Join(dir, "peer-roots.pem")
	if err := os.WriteFile(roots, ca.PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := transfertest.ListFiles(t, src, dir)
	for k, v := range map[string]string{
		"PGO_DATABASE_URL": storetest.Schema(t), "PGO_KEYSET_FILE": vaulttest.Keyset(t), "PGO_REDIS_URL": storetest.Redis(t),
		"PGO_OUTBOX_POLL": "200ms", "PGO_PUBLIC_URL": transfertest.TargetURL, "PGO_PEER_ROOTS": roots,
		"PGO_WORKER_RETRY_DELAY": "1s",
		"PGO_CLIENT_CERT":        filepath.Join(certDir, "doel.localhost-client.pem"),
		"PGO_CLIENT_KEY":         filepath.Join(certDir, "doel.localhost-client-key.pem"),
	} {
		vars[k] = v
	}
	db, err := store.Open(context.Background(), vars["PGO_DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v, err := vault.Open(vars["PGO_KEYSET_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	st := transferdb.New(db, worker.NewFetchTask)
	auditdb.UseChainKeys(v) // the in-process consent appends as pgo serve does
	defer auditdb.UseChainKeys(nil)
	id := consentInProcess(t, st, v, src, vars)

	src.Set(transfertest.Faults{Trickle: 40 * time.Millisecond, AnnounceSize: true, AnnounceHash: true})
	w := startPGO(t, vars, "worker running", "worker")
	tr := waitTransfer(t, st, id, 60*time.Second, func(tr transfer.Transfer) bool {
		return tr.Status == transfer.StatusDownloading && tr.BytesDone > 0 || tr.Status.Final()
	})
	if tr.Status != transfer.StatusDownloading {
		t.Fatalf("not caught while downloading: %s (%s)\n%s", tr.Status, tr.FailureDetail, w.Stderr)
	}
	w.Signal(t, syscall.SIGKILL, 10*time.Second)
	if docs, _ := st.Documents(context.Background(), tr.UserID, id); len(docs) != 0 {
		t.Fatalf("%d documents stored by the killed worker", len(docs))
	}
	t.Logf("killed the worker at %d of %d bytes", tr.BytesDone, tr.BytesTotal)

	progress := watchProgress(t, st, vars["PGO_DATABASE_URL"], id)
	w2 := startPGO(t, vars, "worker running", "worker")
	tr = waitTransfer(t, st, id, 4*time.Minute, func(tr transfer.Transfer) bool { return tr.Status.Final() })
	w2.Signal(t, syscall.SIGTERM, 30*time.Second)
	time.Sleep(100 * time.Millisecond) // the last NOTIFY on its way to the hub
	seen := progress()
	if n := len(seen); n < 2 || seen[n-1].Status != transfer.StatusDone || seen[n-1].BytesDone != seen[n-1].BytesTotal ||
		seen[n-1].DocsDone != 1 || seen[0].Status == transfer.StatusDone {
		t.Errorf("the progress stream after the restart: %d states, last %+v", n, seen[max(0, n-1):])
	}
	if code, out, errOut := runPGO(t, vars, "audit", "verify"); code != 0 || !strings.Contains(out, "audit chain OK") {
		t.Errorf("pgo audit verify: exit %d\n%s%s", code, out, errOut)
	}
	if tr.Status != transfer.StatusDone || tr.Attempts != 2 {
		t.Fatalf("%s after %d attempts (%s)\n%s", tr.Status, tr.Attempts, tr.FailureDetail, w2.Stderr)
	}
	docs, err := st.Documents(context.Background(), tr.UserID, id)
	if err != nil || len(docs) != 1 {
		t.Fatalf("%d documents, %v", len(docs), err)
	}
	_, sealed, err := st.Document(context.Background(), tr.UserID, docs[0].ID)
	if err != nil || bytes.Contains(sealed, []byte("%PDF")) {
		t.Fatalf("sealed document: %v (or a PDF in the clear)", err)
	}
	r, err := v.OpenReader(bytes.NewReader(sealed), docs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, pdf) {
		t.Fatalf("the stored document does not decrypt to the source's bytes: %v", err)
	}
	var completed int
	_ = db.Pool.QueryRow(context.Background(), `select count(*) from audit_log where action = 'transfer_completed' and object_id = $1`, id).Scan(&completed)
	if completed != 1 || len(src.Revoked()) != 1 {
		t.Fatalf("%d transfer_completed records, %d revocations", completed, len(src.Revoked()))
	}
}

// consentInProcess runs the browser part against the source with an in-process
// service on the same database and keyset: the callback's transaction writes the
// transfer:fetch task into the outbox for the worker.
func consentInProcess(t *testing.T, st *transferdb.Store, v *vault.Vault, src *transfertest.Source, vars map[string]string) string {
	t.Helper()
	tlsCfg, err := transfer.ClientTLS(vars["PGO_CLIENT_CERT"], vars["PGO_CLIENT_KEY"], vars["PGO_PEER_ROOTS"])
	if err != nil {
		t.Fatal(err)
	}
	lists := transfertest.Lists(t, src, true)
	svc, err := transfer.New(transfer.Config{Store: st, Sealer: v, Lists: lists, Issuer: transfertest.TargetURL,
		HTTP: zal.NewHTTPClient(lists, zal.ClientOptions{TLSConfig: tlsCfg, DialContext: zal.DialLocalhost})})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	actor := transfer.Actor{UserID: uuid.NewString(), SessionID: "browser-1"}
	tr, err := svc.Start(ctx, actor, "bron@medmij")
	if err != nil {
		t.Fatal(err)
	}
	link, err := svc.AuthorizeURL(ctx, actor, tr.ID)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(link)
	code := src.IssueCode(u.Query().Get("code_challenge"))
	got, err := svc.HandleCallback(ctx, actor, transfer.Callback{State: u.Query().Get("state"), Code: code, Iss: src.URL, HasIss: true})
	if err != nil || got.Status != transfer.StatusAuthorized {
		t.Fatalf("callback: %v, %s (%s)", err, got.Status, got.FailureDetail)
	}
	return tr.ID
}

func waitTransfer(t *testing.T, st *transferdb.Store, id string, timeout time.Duration, ok func(transfer.Transfer) bool) transfer.Transfer {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		tr, err := st.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(tr) {
			return tr
		}
		if time.Now().After(deadline) {
			t.Fatalf("transfer %s: still %s after %s", id, tr.Status, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func exampleTransferDocs(t *testing.T) (pdf, docRef []byte) {
	t.Helper()
	raw, err := os.ReadFile(shared.Path("medmij", "examples", "_port-Binary-XXX-Rijn.json"))
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Content []byte `json:"content"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	docRef, err = os.ReadFile(shared.Path("medmij", "examples", "_port-DocumentReference-XXX-Rijn.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b.Content, docRef
}
