package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgo-koppelvlak/pgo/zal"
)

// listsCollector publishes the MedMij lists' refresh state (issue 5): how often each
// list was replaced, confirmed unchanged or failed to refresh, its Volgnummer and
// when it was last confirmed current, so an operator can alert on stale lists.
type listsCollector struct {
	stats                         func() []zal.ListStats
	replaced, unchanged, failed   *prometheus.Desc
	volgnummer, checkedAt, loaded *prometheus.Desc
}

// ListsCollector returns a Prometheus collector over stats (zal.Registry.Stats).
func ListsCollector(stats func() []zal.ListStats) prometheus.Collector {
	l := []string{"list"}
	return &listsCollector{
		stats:      stats,
		replaced:   prometheus.NewDesc("pgo_medmij_list_replacements_total", "Times a MedMij list was replaced by a newer valid version.", l, nil),
		unchanged:  prometheus.NewDesc("pgo_medmij_list_unchanged_total", "Refreshes that confirmed the current MedMij list.", l, nil),
		failed:     prometheus.NewDesc("pgo_medmij_list_refresh_failures_total", "Failed refreshes (invalid, older, unreachable); the last good list stays in use.", l, nil),
		volgnummer: prometheus.NewDesc("pgo_medmij_list_volgnummer", "Volgnummer of the MedMij list in use.", l, nil),
		checkedAt:  prometheus.NewDesc("pgo_medmij_list_checked_timestamp_seconds", "When the list in use was last confirmed current.", l, nil),
		loaded:     prometheus.NewDesc("pgo_medmij_list_loaded", "1 when a valid list is in use.", l, nil),
	}
}

func (c *listsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.replaced, c.unchanged, c.failed, c.volgnummer, c.checkedAt, c.loaded} {
		ch <- d
	}
}

func (c *listsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		if !s.Configured && !s.Loaded {
			continue
		}
		k := string(s.Kind)
		loaded := 0.0
		if s.Loaded {
			loaded = 1
		}
		ch <- prometheus.MustNewConstMetric(c.replaced, prometheus.CounterValue, float64(s.Replacements), k)
		ch <- prometheus.MustNewConstMetric(c.unchanged, prometheus.CounterValue, float64(s.Unchanged), k)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(s.Failures), k)
		ch <- prometheus.MustNewConstMetric(c.volgnummer, prometheus.GaugeValue, float64(s.Volgnummer), k)
		ch <- prometheus.MustNewConstMetric(c.loaded, prometheus.GaugeValue, loaded, k)
		if !s.CheckedAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.checkedAt, prometheus.GaugeValue, float64(s.CheckedAt.UnixNano())/1e9, k)
		}
	}
}
