package alloc

import "github.com/prometheus/client_golang/prometheus"

// Metrics of the pool. A nil *Metrics is valid and records nothing.
type Metrics struct {
	size      prometheus.Gauge
	inUse     prometheus.Gauge
	exhausted prometheus.Counter
	quota     prometheus.Counter
}

// NewMetrics registers the pool metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wggateway_alloc_pool_addresses",
			Help: "Addresses of the IPv4 tunnel pool that peers can hold.",
		}),
		inUse: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wggateway_alloc_allocations",
			Help: "Addresses currently allocated to peer public keys.",
		}),
		exhausted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wggateway_alloc_exhausted_total",
			Help: "Allocation requests refused because the pool was full.",
		}),
		quota: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wggateway_alloc_quota_refused_total",
			Help: "Allocation requests refused because their source held its per-source quota.",
		}),
	}
	reg.MustRegister(m.size, m.inUse, m.exhausted, m.quota)
	return m
}

func (m *Metrics) setSize(n int) {
	if m != nil {
		m.size.Set(float64(n))
	}
}

func (m *Metrics) setInUse(n int) {
	if m != nil {
		m.inUse.Set(float64(n))
	}
}

func (m *Metrics) incExhausted() {
	if m != nil {
		m.exhausted.Inc()
	}
}

func (m *Metrics) incQuota() {
	if m != nil {
		m.quota.Inc()
	}
}
