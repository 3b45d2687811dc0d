package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/config"
	"github.com/pgo-koppelvlak/pgo/dossier"
	"github.com/pgo-koppelvlak/pgo/dossier/dossierdb"
	"github.com/pgo-koppelvlak/pgo/export"
	"github.com/pgo-koppelvlak/pgo/export/exportdb"
	"github.com/pgo-koppelvlak/pgo/internal/shared"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
	"github.com/pgo-koppelvlak/pgo/store"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/vault"
	"github.com/pgo-koppelvlak/pgo/vault/vaulttest"
	"github.com/pgo-koppelvlak/pgo/worker"
)

// fhirFixture is the FHIR endpoint on a real schema, vault and export pipeline, with
// a test AccessChecker (tokens by table; the consent package builds the real one)
// and client certificates from a throw-away CA, passed the way a TLS-terminating
// proxy passes them (the server verifies them against the CA).
type fhirFixture struct {
	db      *store.DB
	vault   *vault.Vault
	store   *exportdb.Store
	dos     *dossier.Service
	slow    *slowSummarizer
	jobs    *export.Jobs
	serving *export.Serving
	access  *tableAccess
	srv     *Server
	ca      *fhirCA
	cert    string // PEM of the peer's client certificate ("zuid.localhost")
	thumb   string
	user    string
	base    string
	awaits  chan string // one value per Await call (see awaitSignal)
}

func newFHIRFixture(tb testing.TB, hold time.Duration) *fhirFixture {
	tb.Helper()
	f := &fhirFixture{db: storetest.DB(tb), user: uuid.NewString(), access: &tableAccess{tokens: map[string]tokenEntry{}}, awaits: make(chan string, 64)}
	v, err := vault.Open(vaulttest.Keyset(tb))
	if err != nil {
		tb.Fatal(err)
	}
	f.vault = v
	// The patient's account: an import for a user that does not exist is
	// refused (issue 14).
	if _, err := f.db.Pool.Exec(context.Background(), `insert into accounts (id, name, role, password_hash)
		values ($1, $2, 'patient', 'not a hash')`, f.user, "fhir-"+f.user[:8]); err != nil {
		tb.Fatal(err)
	}
	f.store = exportdb.New(f.db, worker.NewRenderTask)
	f.dos = dossier.New(dossierdb.New(f.db), v)
	f.slow = &slowSummarizer{next: f.dos}
	f.jobs = export.NewJobs(export.JobsConfig{Store: f.store, Dossier: f.slow, Sealer: export.StreamSeal{V: v}, Source: "PGO Noord"})
	// served through a pool of its own, as `pgo serve` reads what the worker stored
	reader := exportdb.New(storetest.Reopen(tb, f.db), worker.NewRenderTask)
	f.serving = export.NewServing(export.ServingConfig{Store: reader, Opener: export.StreamSeal{V: v}, Names: f.dos, Source: "PGO Noord", Poll: 10 * time.Millisecond})
	f.ca = newFHIRCA(tb)
	f.cert, f.thumb = f.ca.client(tb, "zuid.localhost")
	cfg := config.MustDefault()
	cfg.InstanceName, cfg.PublicURL = "PGO Noord", "https://noord.localhost:8443/"
	cfg.ClientCA, cfg.PlainAddr, cfg.ProxyClientCertHeader = f.ca.file, "127.0.0.1:0", "X-Client-Cert"
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	log, _ := reqctx.NewLogger(&syncBuffer{}, "debug")
	s, err := New(Deps{Config: cfg, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	f.srv, f.base = s, "https://noord.localhost:8443/51/fhir"
	s.MountFHIR(FHIRDeps{Access: f.access, Exports: awaitSignal{f.serving, f.awaits}, HoldLimit: hold})
	return f
}

// importMedMij imports MedMij's test patient for the fixture's user.
func (f *fhirFixture) importMedMij(tb testing.TB) {
	tb.Helper()
	in, err := dossier.ReadPath(shared.Path("medmij", "bgz-patA"))
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := f.dos.Import(context.Background(), f.user, in, dossier.ImportOptions{}); err != nil {
		tb.Fatal(err)
	}
}

// request creates a queued export job for user (the consent screen's part).
func (f *fhirFixture) request(tb testing.TB, user string) export.Job {
	tb.Helper()
	job, err := f.jobs.Request(context.Background(), export.Request{
		UserID: user, Categories: []dossier.Category{dossier.CatPatient, dossier.CatProblems, dossier.CatAllergies},
		ActorType: audit.ActorUser, ActorID: user, RequestID: uuid.NewString(), CorrelationID: uuid.NewString(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return job
}

// rendered is a ready job of the MedMij patient.
func (f *fhirFixture) rendered(tb testing.TB) export.Job {
	tb.Helper()
	job := f.request(tb, f.user)
	if err := f.jobs.Render(context.Background(), job.ID); err != nil {
		tb.Fatal(err)
	}
	return f.job(tb, job.ID)
}

// stored is a ready job whose document is doc (for sizes a dossier does not give).
func (f *fhirFixture) stored(tb testing.TB, doc []byte) export.Job {
	tb.Helper()
	job := f.request(tb, f.user)
	if _, err := f.store.Start(context.Background(), job.ID); err != nil {
		tb.Fatal(err)
	}
	sealed, err := export.StreamSeal{V: f.vault}.Seal(job.ID, doc)
	if err != nil {
		tb.Fatal(err)
	}
	res := export.Result{Pages: 1, Size: int64(len(doc)), SHA256: sha256.Sum256(doc), SHA1: sha1.Sum(doc)}
	ev := audit.Event{Action: audit.ActDocumentRendered, Outcome: audit.Success, PersonID: f.user, ActorType: audit.ActorSystem, ActorID: "worker", Role: audit.RoleSource, ObjectType: "export", ObjectID: job.ID}
	if ok, err := f.store.Finish(context.Background(), job.ID, res, sealed, ev); err != nil || !ok {
		tb.Fatal(ok, err)
	}
	return f.job(tb, job.ID)
}

func (f *fhirFixture) job(tb testing.TB, id string) export.Job {
	tb.Helper()
	j, err := f.jobs.Job(context.Background(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return j
}

// grant issues a token for job to the fixture's peer certificate.
func (f *fhirFixture) grant(job export.Job) string {
	tok := uuid.NewString()
	f.access.put(tok, tokenEntry{thumb: f.thumb, acc: FHIRAccess{
		TokenID: uuid.NewString(), GrantID: uuid.NewString(), AccountID: job.UserID, ClientID: "zuid.localhost",
		Scope: "noord~51", CorrelationID: job.CorrelationID, ExportJobID: job.ID, ExpiresAt: time.Now().Add(15 * time.Minute),
	}})
	return tok
}

// get sends a GET with the peer's certificate, token (if any) and headers.
func (f *fhirFixture) get(path, token string, hdr ...string) *httptest.ResponseRecorder {
	return f.send(http.MethodGet, path, token, hdr...)
}

// send is get with another method.
func (f *fhirFixture) send(method, path, token string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("X-Client-Cert", url.PathEscape(f.cert))
	req.Header.Set("MedMij-Request-ID", uuid.NewString())
	req.Header.Set("X-Correlation-ID", uuid.NewString())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, req)
	return w
}

// tableAccess is the test AccessChecker: a token is valid for its certificate's
// thumbprint until it expires or is revoked.
type tableAccess struct {
	mu     sync.Mutex
	tokens map[string]tokenEntry
	// refused counts its refusals: the real checker audits each (AccessChecker),
	// so the endpoint must not.
	refused int
}

type tokenEntry struct {
	thumb string
	acc   FHIRAccess
}

func (a *tableAccess) put(tok string, e tokenEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.tokens[tok] = e
}

func (a *tableAccess) revoke(tok string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.tokens, tok)
}

func (a *tableAccess) CheckAccess(_ context.Context, bearer, thumbprint string) (FHIRAccess, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.tokens[bearer]
	if !ok || e.thumb != thumbprint || !time.Now().Before(e.acc.ExpiresAt) {
		a.refused++
		return FHIRAccess{}, pgo.Errorf(pgo.EUNAUTHORIZED, "token refused")
	}
	return e.acc, nil
}

// slowSummarizer holds renderings until release is closed (when gate is set), so a
// test sees a job in rendering.
type slowSummarizer struct {
	next export.Summarizer
	mu   sync.Mutex
	gate chan struct{}
}

func (s *slowSummarizer) hold() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = make(chan struct{})
	return s.gate
}

func (s *slowSummarizer) Summary(ctx context.Context, userID string, cats []dossier.Category) (dossier.Summary, error) {
	s.mu.Lock()
	g := s.gate
	s.mu.Unlock()
	if g != nil && len(cats) > 1 { // the patient-name lookup of the endpoint is not held
		<-g
	}
	return s.next.Summary(ctx, userID, cats)
}

// awaitSignal tells the test when the endpoint starts to hold a request.
type awaitSignal struct {
	*export.Serving
	c chan string
}

func (a awaitSignal) Await(ctx context.Context, id string, hold time.Duration) (export.Job, error) {
	a.c <- id
	return a.Serving.Await(ctx, id, hold)
}

// fhirCA issues client certificates.
type fhirCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string
	pool *x509.CertPool
}

func newFHIRCA(tb testing.TB) *fhirCA {
	tb.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "FHIR test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &fhirCA{cert: cert, key: key, file: file, pool: pool}
}

// leaf issues a certificate for host with eku and returns it with its key.
func (ca *fhirCA) leaf(tb testing.TB, host string, eku x509.ExtKeyUsage) tls.Certificate {
	tb.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: host},
		DNSNames: []string{host}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{eku}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// client issues a client certificate and returns its PEM and thumbprint.
func (ca *fhirCA) client(tb testing.TB, host string) (string, string) {
	c := ca.leaf(tb, host, x509.ExtKeyUsageClientAuth)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})), reqctx.NewPeer(c.Leaf).Thumbprint
}

var _ = bytes.Equal

func newPeerThumb(c *x509.Certificate) string { return reqctx.NewPeer(c).Thumbprint }
