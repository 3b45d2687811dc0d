package server

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpMetrics are the request counter and latency histogram by route template,
// method and status.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	handler  http.Handler
}

func newHTTPMetrics(reg *prometheus.Registry) (*httpMetrics, error) {
	labels := []string{"route", "method", "status"}
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pgo_http_requests_total",
			Help: "HTTP requests handled, by route template, method and status.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pgo_http_request_duration_seconds",
			Help:    "Time to handle an HTTP request, by route template, method and status.",
			Buckets: prometheus.DefBuckets,
		}, labels),
	}
	if err := registerOrReuse(reg, &m.requests); err != nil {
		return nil, err
	}
	if err := registerOrReuse(reg, &m.duration); err != nil {
		return nil, err
	}
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return nil, err
		}
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	return m, nil
}

// registerOrReuse registers *c, or switches *c to the collector already
// registered under the same name (a registry shared by two servers in one process).
func registerOrReuse[C prometheus.Collector](reg *prometheus.Registry, c *C) error {
	err := reg.Register(*c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			*c = existing
			return nil
		}
	}
	return err
}

// knownMethods bounds the method label.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

func (m *httpMetrics) observe(route, method string, status int, d time.Duration) {
	if !knownMethods[method] {
		method = "OTHER"
	}
	st := strconv.Itoa(status)
	m.requests.WithLabelValues(route, method, st).Inc()
	m.duration.WithLabelValues(route, method, st).Observe(d.Seconds())
}

// metricsHandler serves /metrics in the Prometheus exposition format.
func (s *Server) metricsHandler(c echo.Context) error {
	s.metrics.handler.ServeHTTP(c.Response(), c.Request())
	return nil
}

// DBRoundTrips publishes roundTrips (store.DB.RoundTrips) as
// pgo_db_round_trips_total: the statements, batches and COPYs the process sent
// to PostgreSQL. Its rate beside the request rate is the database cost of a
// request, the figure that rises first when a change adds a query per request.
func DBRoundTrips(roundTrips func() uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "pgo_db_round_trips_total",
		Help: "Statements, batches and COPYs sent to PostgreSQL by this process.",
	}, func() float64 { return float64(roundTrips()) })
}

// UnrecordedRefusals exposes pgo_audit_unrecorded_refusals_total: refusals of
// requests nobody authenticated (peer routes without a verified client
// certificate, authorization requests before login) that were over the audit
// quota (audit.Quota) and so were answered but not recorded. A rising rate is
// someone sending junk.
func UnrecordedRefusals(skipped func() uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "pgo_audit_unrecorded_refusals_total",
		Help: "Unauthenticated requests (peer routes, authorization before login) refused over the audit quota, answered but not recorded.",
	}, func() float64 { return float64(skipped()) })
}
