package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/transfer"
	"github.com/pgo-koppelvlak/pgo/transfer/transferdb"
	"github.com/pgo-koppelvlak/pgo/transfer/transfertest"
	"github.com/pgo-koppelvlak/pgo/web"
	"github.com/pgo-koppelvlak/pgo/zal"
)

// transferEnv is the account env with the transfer pages mounted, a test source
// and the MedMij example document.
type transferEnv struct {
	*accountEnv
	svc *transfer.Service
	src *transfertest.Source
	pdf []byte
}

func newTransferEnv(t *testing.T) *transferEnv {
	t.Helper()
	return attachTransfer(t, newAccountEnv(t))
}

// attachTransfer mounts the transfer pages on e's server (the abuse suite mounts
// them beside the source role, as cmd/pgo does).
func attachTransfer(t *testing.T, e *accountEnv) *transferEnv {
	t.Helper()
	ca := transfertest.NewCA(t)
	raw, err := os.ReadFile(shared.Path("medmij", "examples", "_port-Binary-XXX-Rijn.json"))
	if err != nil {
		t.Fatal(err)
	}
	docRef, _ := os.ReadFile(shared.Path("medmij", "examples", "_port-DocumentReference-XXX-Rijn.json"))
	var b struct {
		Content []byte `json:"content"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	src := transfertest.NewSource(t, ca, b.Content, docRef)
	src.Redirect = transfertest.TargetURL + transfer.CallbackPath
	lists := transfertest.Lists(t, src, true)
	svc, err := transfer.New(transfer.Config{
		Store:  transferdb.New(e.db, func(id string) store.Task { return store.Task{Type: "transfer:fetch", Payload: []byte(id)} }),
		Sealer: testSealer(t), Lists: lists, Issuer: transfertest.TargetURL,
		HTTP: zal.NewHTTPClient(lists, zal.ClientOptions{TLSConfig: ca.ClientTLS(t, "doel.localhost"), DialContext: zal.DialLocalhost}),
	})
	if err != nil {
		t.Fatal(err)
	}
	hub := transferdb.NewHub(e.db.URL(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { hub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	e.s.MountTransfer(TransferDeps{Accounts: e.svc, Transfers: svc, Hub: hub})
	return &transferEnv{accountEnv: e, svc: svc, src: src, pdf: b.Content}
}

// patient logs a new patient in.
func (e *transferEnv) patient(t *testing.T, name string) *browser {
	t.Helper()
	seed := e.user(t, name, account.RolePatient)
	b := e.browser()
	b.login(t, name, seed)
	return b
}

var (
	transferPathRE = regexp.MustCompile(`^/ophalen/([0-9a-f-]{36})$`)
	documentLinkRE = regexp.MustCompile(`href="(/documenten/[0-9a-f-]{36})"`)
)

// consentThroughPages runs choose, start, the link to the source, the source's
// consent (a code for the PKCE challenge) and the callback, and returns the
// transfer id and the callback's query.
func (e *transferEnv) consentThroughPages(t *testing.T, b *browser, extra url.Values) (string, url.Values) {
	t.Helper()
	if w := b.get("/ophalen"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `value="bron@medmij"`) ||
		!strings.Contains(w.Body.String(), ">PGO Bron</label>") {
		t.Fatalf("GET /ophalen: %d, no source bron listed by its OCL organisation name", w.Code)
	}
	w := b.post("/ophalen", url.Values{"csrf": {b.csrf(t, "/ophalen")}, "bron": {"bron@medmij"}})
	m := transferPathRE.FindStringSubmatch(w.Header().Get("Location"))
	if w.Code != http.StatusSeeOther || m == nil {
		t.Fatalf("POST /ophalen: %d %q", w.Code, w.Header().Get("Location"))
	}
	id := m[1]
	if w := b.get("/ophalen/" + id); !strings.Contains(w.Body.String(), `href="/ophalen/`+id+`/toestemming"`) {
		t.Fatalf("the new transfer's page does not link to the source:\n%s", w.Body)
	}
	w = b.get("/ophalen/" + id + "/toestemming")
	authz, err := url.Parse(w.Header().Get("Location"))
	if w.Code != http.StatusSeeOther || err != nil || !strings.HasPrefix(authz.String(), e.src.URL+"/oauth/authorize?") {
		t.Fatalf("to the source: %d %q", w.Code, w.Header().Get("Location"))
	}
	q := authz.Query()
	cb := url.Values{"state": {q.Get("state")}, "iss": {e.src.URL}}
	if extra == nil {
		cb.Set("code", e.src.IssueCode(q.Get("code_challenge")))
	}
	for k, v := range extra {
		cb[k] = v
	}
	e.secrets = append(e.secrets, q.Get("state"), cb.Get("code"))
	return id, cb
}

// The whole target side through the pages: choose bron from the ZAL, go there,
// come back on the redirect_uri, the worker's part, "Uw dossier is overgenomen"
// with a download button, and the download decrypts to exactly the source's bytes
// with a safe file name. No code, state or session id reaches a log line.
func TestTransferPages(t *testing.T) {
	e := newTransferEnv(t)
	b := e.patient(t, "anouk")
	id, cb := e.consentThroughPages(t, b, nil)
	w := b.get(transfer.CallbackPath + "?" + cb.Encode())
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ophalen/"+id {
		t.Fatalf("callback: %d %q\n%s", w.Code, w.Header().Get("Location"), w.Body)
	}
	if page := b.get("/ophalen/" + id).Body.String(); !strings.Contains(page, `data-events="/ophalen/`+id+`/events"`) ||
		!strings.Contains(page, `http-equiv="refresh"`) {
		t.Fatalf("a running transfer's page neither streams nor refreshes:\n%s", page)
	}
	if err := e.svc.Fetch(context.Background(), id, true); err != nil {
		t.Fatal(err)
	}
	page := b.get("/ophalen/" + id).Body.String()
	link := documentLinkRE.FindStringSubmatch(page)
	if !strings.Contains(page, "Uw dossier is overgenomen") || link == nil {
		t.Fatalf("done page:\n%s", page)
	}
	// The document comes as an attachment (untrusted content is never shown in
	// this origin), so the button says what it does: download, not open.
	if !strings.Contains(page, `href="`+link[1]+`" download>Downloaden<`) {
		t.Errorf("the document's button does not say Downloaden or lacks the download attribute:\n%s", page)
	}
	w = b.get(link[1])
	if w.Code != http.StatusOK || w.Body.String() != string(e.pdf) {
		t.Fatalf("download: %d, %d bytes (want %d)", w.Code, w.Body.Len(), len(e.pdf))
	}
	cd := w.Header().Get("Content-Disposition")
	if w.Header().Get("Content-Type") != "application/pdf" || !strings.HasPrefix(cd, "attachment;") || strings.ContainsAny(cd, "/\\\r\n") {
		t.Errorf("download headers: %q, %q", w.Header().Get("Content-Type"), cd)
	}
	if docs := b.get("/documenten").Body.String(); !strings.Contains(docs, link[1]) || !strings.Contains(docs, "PGO Bron") {
		t.Error("Ontvangen documenten does not list the document with its source")
	}
	// Another patient sees none of it.
	other := e.patient(t, "bram")
	for _, p := range []string{"/ophalen/" + id, link[1], "/ophalen/" + id + "/events"} {
		if w := other.get(p); w.Code != http.StatusNotFound {
			t.Errorf("another patient GET %s: %d, want 404", p, w.Code)
		}
	}
}

// The refusals of the pages: no login, the wrong role, no CSRF token, no source
// chosen; access_denied at the source gives a calm page without retry pressure.
func TestTransferPagesRefuse(t *testing.T) {
	e := newTransferEnv(t)
	if w := e.browser().get("/ophalen"); w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/login") {
		t.Errorf("without login: %d %q", w.Code, w.Header().Get("Location"))
	}
	seed := e.user(t, "audrey", account.RoleAuditor)
	aud := e.browser()
	aud.login(t, "audrey", seed)
	if w := aud.get("/ophalen"); w.Code != http.StatusForbidden {
		t.Errorf("auditor: %d, want 403", w.Code)
	}
	b := e.patient(t, "anouk")
	if w := b.post("/ophalen", url.Values{"bron": {"bron@medmij"}}); w.Code != http.StatusForbidden {
		t.Errorf("without CSRF token: %d, want 403", w.Code)
	}
	if w := b.post("/ophalen", url.Values{"csrf": {b.csrf(t, "/ophalen")}, "bron": {"elders@medmij"}}); w.Code != http.StatusBadRequest ||
		!strings.Contains(w.Body.String(), web.T(web.NL, "transfer.err.no_source")) {
		t.Errorf("unknown source: %d", w.Code)
	}
	id, cb := e.consentThroughPages(t, b, url.Values{"error": {"access_denied"}})
	w := b.get(transfer.CallbackPath + "?" + cb.Encode())
	page := b.get("/ophalen/" + id).Body.String()
	if w.Code != http.StatusSeeOther || !strings.Contains(page, "U hebt geen toestemming gegeven") || strings.Contains(page, "error-summary") {
		t.Errorf("access_denied page:\n%s", page)
	}
	if w := b.get(transfer.CallbackPath + "?state=forged&code=x"); w.Code != http.StatusBadRequest {
		t.Errorf("forged state: %d, want 400", w.Code)
	}
}

// Every failure reason has a sentence in both languages.
func TestTransferReasonsTranslated(t *testing.T) {
	for _, r := range transfer.Reasons() {
		for _, l := range web.Langs {
			key := "transfer.reason." + string(r)
			if web.T(l, key) == key {
				t.Errorf("%s: no %s text", key, l)
			}
		}
	}
	for _, s := range append(transfer.Steps, transfer.StatusFailed) {
		if key := "transfer.status." + string(s); web.T(web.EN, key) == key {
			t.Errorf("%s: no text", key)
		}
	}
	_ = time.Second
}
