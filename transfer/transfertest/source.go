package transfertest

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Faults switch the source's misbehaviour; the zero value is a correct source.
type Faults struct {
	TokenStatus  int    // the token endpoint refuses with this status (invalid_grant)
	Mode         string // how the Binary comes: "raw" (default), "stu3" or "r4"
	AnnounceSize bool   // put attachment.size on the DocumentReference
	AnnounceHash bool   // put attachment.hash (SHA-1) on the DocumentReference
	WrongHash    bool   // announce the SHA-1 of other bytes
	SizeDelta    int64  // announce size + SizeDelta
	Truncate     bool   // serve only the first half of the document (a complete response)
	Extra        []byte // append these bytes to the document served
	Body         []byte // serve these bytes instead of the document
	Digest       bool   // send Content-Digest (RFC 9530)
	WrongDigest  bool   // send a Content-Digest of other bytes
	Accepted     int    // answer 202 this many times before the document; -1: forever
	RetryAfter   string // Retry-After on a 202 (default "1")
	Down         bool   // abort every connection (token, FHIR, revocation)
	BreakAt      int    // cut the first full response after this many body bytes
	Stall        bool   // with BreakAt: go silent there instead (until the client gives up)
	BreakAlways  bool   // cut every response and ignore Range
	ExpireBinary bool   // the Binary read answers 401 (token expired mid-download)
	BadBundle    bool   // the search answers a Bundle that is not valid FHIR
	// Pages splits the search result over this many pages (FHIR STU3
	// http.html#paging): page n (query _page=n from the second on) lists its
	// own copy of the DocumentReference (id and Binary URL suffixed "-pn")
	// and links page n+1 with relation "next".
	Pages int
	// HAPIPaging writes the next links as HAPI FHIR servers do: the base
	// itself with _getpages (page n: [base]?_getpages=n).
	HAPIPaging bool
	// NextLink is the next link of the last page ("{base}" stands for the
	// FHIR base): a loop, another host, a URL outside the base.
	NextLink string
	// Totals replaces the Bundle.total of the pages (by default each page
	// declares the true total, one per page): page n declares Totals[n-1], a
	// page past the list the last one, and a negative one declares none.
	Totals []int
	// Trickle sends the document in 4 KiB pieces with this pause between them (a
	// slow network, so a test can catch the target mid-download).
	Trickle time.Duration
	// HoldHeaders keeps every FHIR request waiting this long (or until the client
	// gives up) before anything is answered.
	HoldHeaders time.Duration
	// Fail5xx answers the Binary read 503 this many times before serving it.
	Fail5xx int
	// RedirectTo answers the Binary read with 302 Found to this URL.
	RedirectTo string
	// LengthDelta serves the Binary over the raw connection with a Content-Length
	// of the body's length plus this (net/http would not send a wrong one).
	LengthDelta int
	// WrongHostCert presents a server certificate (from the same CA) for
	// another host name than bron.localhost.
	WrongHostCert bool
	// TokenDelay holds every token request this long before it is answered
	// (so that concurrent callbacks are all in before the first redemption).
	TokenDelay time.Duration
	// Gate holds each Binary read that comes in while it is set until Gate is
	// closed (or the client gives up); the read is then answered with the
	// faults set at that moment. A test catches one run of a fetch
	// mid-download with it, lets another run go, then releases the first.
	Gate chan struct{}
	// TokenRedirectTo answers the token request with 307 Temporary Redirect
	// (method and body kept) to this URL.
	TokenRedirectTo string
	// Gzip compresses the Binary (Content-Encoding: gzip; Content-Digest is
	// over the compressed bytes, as RFC 9530 says): "asked" only when the
	// request accepts gzip (a correct source), "always" regardless.
	Gzip string
}

// Seen is one request the source received.
type Seen struct {
	Method, Path, Query         string
	RequestID, CorrelationID    string
	Range, Prefer, ClientCertCN string
}

// Source is a test source PGO.
type Source struct {
	URL      string // https://bron.localhost:PORT (the issuer)
	Server   *httptest.Server
	Doc      []byte // the PDF it serves
	DocRef   []byte // the DocumentReference it lists (the MedMij example by default)
	Redirect string // the redirect_uri the token endpoint wants

	mu       sync.Mutex
	faults   Faults
	codes    map[string]string // code -> PKCE challenge
	live     map[string]bool
	revoked  []string
	seen     []Seen
	accepted int
	failed   int
	broken   bool
	other    tls.Certificate // the certificate for another host (WrongHostCert)
}

// NewSource starts a source named bron.localhost with a server certificate from
// ca, requiring client certificates from ca. doc is the PDF, docRef the
// DocumentReference JSON to list (its first content's attachment is adjusted per
// the faults).
func NewSource(t testing.TB, ca *CA, doc, docRef []byte) *Source {
	return NewSourceTrusting(t, ca, ca.Pool, doc, docRef)
}

// NewSourceTrusting is NewSource accepting client certificates from clientCAs (a
// real pgo process with certificates from `pgo keys dev-ca`).
func NewSourceTrusting(t testing.TB, ca *CA, clientCAs *x509.CertPool, doc, docRef []byte) *Source {
	t.Helper()
	s := &Source{Doc: doc, DocRef: docRef, codes: map[string]string{}, live: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", s.token)
	mux.HandleFunc("POST /oauth/revoke", s.revoke)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", s.metadata)
	for _, base := range []string{"/51/fhir", "/fhir"} { // the contract's base and zal.Generate's
		mux.HandleFunc("GET "+base+"/DocumentReference", s.search)
		mux.HandleFunc("GET "+base+"/{$}", s.search) // HAPIPaging's next pages
		mux.HandleFunc("GET "+base, s.search)
		mux.HandleFunc("GET "+base+"/Binary/{id}", s.binary)
	}
	srv := httptest.NewUnstartedServer(s.record(mux))
	s.other = ca.Issue(t, "andere.localhost", x509.ExtKeyUsageServerAuth)
	srv.TLS = &tls.Config{
		MinVersion: tls.VersionTLS12, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs,
		Certificates: []tls.Certificate{ca.Issue(t, "bron.localhost", x509.ExtKeyUsageServerAuth)},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if s.f().WrongHostCert {
				return &s.other, nil
			}
			return nil, nil // the bron.localhost certificate
		},
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.Server = srv
	s.URL = "https://bron.localhost:" + srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	return s
}

// Set replaces the faults (and resets the 202 and break counters).
func (s *Source) Set(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults, s.accepted, s.failed, s.broken = f, 0, 0, false
}

// IssueCode registers a one-time code for a PKCE challenge, as the consent step would.
func (s *Source) IssueCode(challenge string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	code := "code-" + base64.RawURLEncoding.EncodeToString([]byte(challenge))[:12]
	s.codes[code] = challenge
	return code
}

// Revoked returns the tokens revoked so far.
func (s *Source) Revoked() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.revoked)
}

// Seen returns the requests so far.
func (s *Source) Seen() []Seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

// Expire ends every live token (as a source does at expiry).
func (s *Source) Expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.live)
}

func (s *Source) f() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

func (s *Source) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen := Seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			RequestID: r.Header.Get("MedMij-Request-ID"), CorrelationID: r.Header.Get("X-Correlation-ID"),
			Range: r.Header.Get("Range"), Prefer: r.Header.Get("Prefer")}
		if len(r.TLS.PeerCertificates) > 0 {
			seen.ClientCertCN = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		s.mu.Lock()
		s.seen = append(s.seen, seen)
		down := s.faults.Down
		s.mu.Unlock()
		if down {
			panic(http.ErrAbortHandler) // the connection is cut without an answer
		}
		if hold := s.f().HoldHeaders; hold > 0 && strings.Contains(r.URL.Path, "/fhir/") {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(hold):
			}
		}
		next.ServeHTTP(w, r)
	})
}

// token is the authorization_code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636
// §4.6) and the client authenticated by its certificate (RFC 8705 §2.1.2: the
// certificate's DNS name is the client_id).
func (s *Source) token(w http.ResponseWriter, r *http.Request) {
	if to := s.f().TokenRedirectTo; to != "" {
		http.Redirect(w, r, to, http.StatusTemporaryRedirect)
		return
	}
	if d := s.f().TokenDelay; d > 0 {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(d):
		}
	}
	if st := s.f().TokenStatus; st != 0 {
		oauthError(w, st, "invalid_grant")
		return
	}
	_ = r.ParseForm()
	cert := r.TLS.PeerCertificates[0]
	verifier := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	s.mu.Lock()
	challenge, ok := s.codes[r.PostForm.Get("code")]
	delete(s.codes, r.PostForm.Get("code"))
	s.mu.Unlock()
	switch {
	case r.PostForm.Get("grant_type") != "authorization_code" || !ok:
		oauthError(w, http.StatusBadRequest, "invalid_grant")
	case !slices.Contains(cert.DNSNames, r.PostForm.Get("client_id")):
		oauthError(w, http.StatusUnauthorized, "invalid_client")
	case r.PostForm.Get("redirect_uri") != s.Redirect:
		oauthError(w, http.StatusBadRequest, "invalid_grant")
	case base64.RawURLEncoding.EncodeToString(verifier[:]) != challenge:
		oauthError(w, http.StatusBadRequest, "invalid_grant")
	default:
		tok := "tok-" + challenge[:16]
		s.mu.Lock()
		s.live[tok] = true
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer",
			"expires_in": 900, "scope": "bron~51"})
	}
}

func oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

// revoke is RFC 7009 §2.1: revoke the token, answer 200 whether or not it was live.
func (s *Source) revoke(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	tok := r.PostForm.Get("token")
	s.mu.Lock()
	delete(s.live, tok)
	s.revoked = append(s.revoked, tok)
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// metadata is the RFC 8414 document of the source.
func (s *Source) metadata(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"issuer": s.URL,
		"authorization_endpoint": s.URL + "/oauth/authorize", "token_endpoint": s.URL + "/oauth/token",
		"revocation_endpoint": s.URL + "/oauth/revoke", "authorization_response_iss_parameter_supported": true})
}

// authorized checks the bearer token.
func (s *Source) authorized(w http.ResponseWriter, r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	live := ok && s.live[tok]
	s.mu.Unlock()
	if !live {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "", http.StatusUnauthorized)
	}
	return live
}

// Query returns the query of the first request for path (for assertions).
func Query(seen []Seen, path string) (url.Values, bool) {
	for _, x := range seen {
		if x.Path == path {
			q, _ := url.ParseQuery(x.Query)
			return q, true
		}
	}
	return nil, false
}
