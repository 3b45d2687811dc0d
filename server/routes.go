package server

import (
	"fmt"
	"io/fs"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/pgo-koppelvlak/pgo/web"
)

// Kind says who a route is for; it decides the middleware a route gets and the
// format of its errors.
type Kind int

const (
	// KindBrowser routes serve people: HTML pages, HTML error pages. They never
	// require a client certificate.
	KindBrowser Kind = iota + 1
	// KindPeer routes serve other PGOs (token endpoint, FHIR API): they require a
	// verified client certificate (see requirePeer) and answer errors as
	// application/problem+json (RFC 9457).
	KindPeer
	// KindOps routes serve operators and orchestrators (/healthz, /readyz,
	// /metrics) on the operations listener (PGO_OPS_ADDR, loopback by default),
	// never on the patient-facing port: JSON, problem+json errors.
	KindOps
)

// RouteGroup registers routes of one kind, each with the group's middleware. It is
// our own small type (not echo.Group) so that peer and browser routes can share
// path prefixes without echo's catch-all group routes, and so that the server
// knows every route's kind.
type RouteGroup struct {
	s    *Server
	e    *echo.Echo // the listener's router: public, or operations for KindOps
	kind Kind
	mw   []echo.MiddlewareFunc
}

func (s *Server) group(k Kind, mw ...echo.MiddlewareFunc) *RouteGroup {
	e := s.echo
	if k == KindOps {
		e = s.ops
	}
	return &RouteGroup{s: s, e: e, kind: k, mw: mw}
}

// With returns a group of the same kind with extra middleware for the routes
// registered on it (e.g. r.Browser.With(s.requireLogin) for pages behind login).
func (g *RouteGroup) With(mw ...echo.MiddlewareFunc) *RouteGroup {
	return &RouteGroup{s: g.s, e: g.e, kind: g.kind, mw: append(append([]echo.MiddlewareFunc{}, g.mw...), mw...)}
}

// Add registers h for method and path (an echo path template such as
// "/fhir/Binary/:id"); m run after the group's middleware. Registering one path
// in two kinds is a programming error and panics at start.
func (g *RouteGroup) Add(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	if k, ok := g.s.kinds[path]; ok && k != g.kind {
		panic(fmt.Sprintf("server: route %s registered as two kinds", path))
	}
	g.s.kinds[path] = g.kind
	all := append(append([]echo.MiddlewareFunc{}, g.mw...), m...)
	return g.e.Add(method, path, h, all...)
}

// GET registers a GET route (HEAD is answered by the same handler).
func (g *RouteGroup) GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	g.Add(http.MethodHead, path, h, m...)
	return g.Add(http.MethodGet, path, h, m...)
}

// POST registers a POST route.
func (g *RouteGroup) POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return g.Add(http.MethodPost, path, h, m...)
}

// DELETE registers a DELETE route.
func (g *RouteGroup) DELETE(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return g.Add(http.MethodDelete, path, h, m...)
}

// Routes are the groups an area registers its routes in.
type Routes struct {
	Browser *RouteGroup
	Peer    *RouteGroup
	Ops     *RouteGroup
}

// routes is the route table: the core routes are listed here, and every area
// mounts its own through the same three groups (s.groups), so each kind's
// middleware is defined once.
//
// To add routes for an area (account, consent, export, transfer, audit, ...):
//  1. write server/AREA.go with an AREADeps struct (small interfaces, declared
//     here), thin handlers as methods, and
//     func (s *Server) MountAREA(d AREADeps) that registers them on
//     s.groups.Browser, s.groups.Peer or s.groups.Ops;
//  2. in cmd/pgo, write the area's mount in its own file as a method of the App
//     (cmd/pgo/app.go) that builds the deps from the App's parts and calls
//     srv.MountAREA(d) (readiness checks: srv.AddChecker), and add it as one
//     line to App.mountAreas (cmd/pgo/serve.go), which mounts every area in one
//     visible order.
//
// Middleware for a whole kind (sessions and CSRF for browser routes, say) goes
// into the s.group(...) calls below; for a subset use s.groups.Browser.With(mw...).
// Browser handlers render with s.render(c, status, "PAGE", view) where view
// embeds s.page(c, title) (see web/web.go for adding a template). Peer handlers
// read the verified client with reqctx.PeerFromContext(ctx). Handlers return
// *pgo.Error values; handleError (error.go) turns them into responses.
func (s *Server) routes() {
	s.groups = Routes{
		Browser: s.group(KindBrowser, s.rememberLang),
		Peer:    s.group(KindPeer, s.requirePeer),
		Ops:     s.group(KindOps),
	}
	r := s.groups

	// Operations, on their own listener; the public port keeps a bare liveness
	// answer for load balancers (it names nothing).
	r.Ops.GET("/healthz", s.healthz)
	r.Ops.GET("/readyz", s.readyz)
	r.Ops.GET("/metrics", s.metricsHandler)
	s.pprofRoutes(r.Ops)
	s.echo.GET("/healthz", s.healthz)
	s.echo.HEAD("/healthz", s.healthz)

	// Browser: start page and static assets.
	r.Browser.GET("/", s.home)
	r.Browser.GET("/static/*", s.static())

	// An HTTP/2 request whose path did not parse (h2path.go); no kind, so the
	// error format follows the Accept header.
	s.echo.Any(badPathMarker, s.badPath)

	// Peer: the mutual-TLS self-check.
	r.Peer.GET("/peer/ping", s.peerPing)

	// Areas mount theirs with MountAREA from a serve hook (see above).
}

// home is the start page.
func (s *Server) home(c echo.Context) error {
	return s.render(c, http.StatusOK, "home", web.HomeView{Page: s.page(c, "")})
}

// static serves the embedded assets under /static/. They are public and change
// only with a release, so they may be cached (for a day); directory listings are
// not served.
func (s *Server) static() echo.HandlerFunc {
	files := web.Static()
	fileServer := http.StripPrefix("/static/", http.FileServerFS(files))
	return func(c echo.Context) error {
		name := c.Param("*")
		if name == "" || strings.HasSuffix(name, "/") {
			return echo.ErrNotFound
		}
		if st, err := fs.Stat(files, name); err != nil || st.IsDir() {
			return echo.ErrNotFound
		}
		c.Response().Header().Set("Cache-Control", "public, max-age=86400")
		fileServer.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}
