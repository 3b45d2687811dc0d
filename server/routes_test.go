package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestRouteGroupWithAndKinds(t *testing.T) {
	s, _ := newTestServer(t, nil)
	var order []string
	mw := func(name string) echo.MiddlewareFunc {
		return func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error { order = append(order, name); return next(c) }
		}
	}
	g := s.group(KindOps, mw("group")).With(mw("with"))
	g.GET("/test/mw", func(c echo.Context) error { order = append(order, "handler"); return c.NoContent(204) }, mw("route"))
	do(s, httptest.NewRequest(http.MethodGet, "/test/mw", nil))
	if got := len(order); got != 4 || order[0] != "group" || order[1] != "with" || order[2] != "route" || order[3] != "handler" {
		t.Errorf("middleware order %v", order)
	}
	// HEAD is answered by GET routes, without a body.
	if w := do(s, httptest.NewRequest(http.MethodHead, "/", nil)); w.Code != 200 {
		t.Errorf("HEAD /: %d", w.Code)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering one path as two kinds must panic")
		}
	}()
	s.group(KindPeer).GET("/test/mw", func(echo.Context) error { return nil })
}
