package store

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the store's Prometheus metrics, named as etcd names the same
// things so etcd dashboards work unchanged.
type Metrics struct {
	puts, deletes                            prometheus.Counter
	leaseGranted, leaseRevoked, leaseExpired prometheus.Counter
	compactRev, readOnly                     prometheus.Gauge
}

// NewMetrics registers the store's metrics on reg. Gauges that read the
// store's state (keys, size, revision) are registered by RegisterGauges once
// the store exists.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		puts:         prometheus.NewCounter(prometheus.CounterOpts{Name: "etcd_debugging_mvcc_put_total", Help: "Total number of puts seen by this member."}),
		deletes:      prometheus.NewCounter(prometheus.CounterOpts{Name: "etcd_debugging_mvcc_delete_total", Help: "Total number of deletes seen by this member."}),
		leaseGranted: prometheus.NewCounter(prometheus.CounterOpts{Name: "etcd_debugging_lease_granted_total", Help: "The total number of granted leases."}),
		leaseRevoked: prometheus.NewCounter(prometheus.CounterOpts{Name: "etcd_debugging_lease_revoked_total", Help: "The total number of revoked leases (expired ones included)."}),
		leaseExpired: prometheus.NewCounter(prometheus.CounterOpts{Name: "memetcd_store_lease_expired_total", Help: "Leases revoked because their TTL ran out."}),
		compactRev:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "etcd_debugging_mvcc_compact_revision", Help: "The revision of the last compaction in store."}),
		readOnly:     prometheus.NewGauge(prometheus.GaugeOpts{Name: "memetcd_store_read_only", Help: "1 once a journal failure made the store refuse writes."}),
	}
	reg.MustRegister(m.puts, m.deletes, m.leaseGranted, m.leaseRevoked, m.leaseExpired, m.compactRev, m.readOnly)
	return m
}

func (m *Metrics) observeCommit(evs []Event) {
	for i := range evs {
		if evs[i].Type == EventPut {
			m.puts.Inc()
		} else {
			m.deletes.Inc()
		}
	}
}

// RegisterGauges registers gauges computed from s at scrape time.
func RegisterGauges(reg prometheus.Registerer, s *Store) {
	gauge := func(name, help string, f func(Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(s.Stats()) })
	}
	reg.MustRegister(
		gauge("etcd_debugging_mvcc_keys_total", "Total number of keys.", func(st Stats) float64 { return float64(st.Keys) }),
		gauge("etcd_debugging_mvcc_current_revision", "The current revision of store.", func(st Stats) float64 { return float64(st.Rev) }),
		gauge("etcd_mvcc_db_total_size_in_bytes", "Total size of the live keys and values in bytes (memetcd has no db file).", func(st Stats) float64 { return float64(st.Bytes) }),
		gauge("etcd_mvcc_db_total_size_in_use_in_bytes", "Same as etcd_mvcc_db_total_size_in_bytes for memetcd.", func(st Stats) float64 { return float64(st.Bytes) }),
		gauge("memetcd_store_events_retained", "Watch events kept since the compaction point.", func(st Stats) float64 { return float64(st.Events) }),
		gauge("memetcd_store_leases", "Leases currently granted.", func(st Stats) float64 { return float64(st.Leases) }),
	)
}
